"""The gRPC front: the v1 services over gRPC, answered by the same services as the HTTP API."""
