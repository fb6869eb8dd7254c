"""kuberay-api: KubeRay's API server (clusters, jobs, services, compute templates) over HTTP and gRPC.

`app.main.create_app` builds the server. The package itself imports nothing: gunicorn.conf.py
imports some of its modules (app.settings, app.logs) before it sets the metrics folder, and they
must not load the whole server, nor prometheus_client, on the way.
"""
