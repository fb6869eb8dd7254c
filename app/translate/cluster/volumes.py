"""Volumes and their mounts, both directions: the API's `Volume` (one object for both) <->
a pod volume plus a container's volume mount. Pure: validation has refused unknown volume types
and ephemeral or empty-dir storage that is no quantity.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.constants import COMPONENT, MANAGED_BY
from app.translate.common import omit_zero
from app.translate.enums import AccessMode, HostPathType, MountPropagation, VolumeType
from app.translate.quantity import canonical_quantity, stored_quantity
from app.types import Json, Volume

_PROPAGATION: dict[int, str] = {
    MountPropagation.HOSTTOCONTAINER: "HostToContainer",
    MountPropagation.BIDIRECTIONAL: "Bidirectional",
}  # anything else: no mountPropagation (None)
_PROPAGATION_MODE = {name: int(mode) for mode, name in _PROPAGATION.items()}
_ACCESS_MODES: dict[int, str] = {AccessMode.ROX: "ReadOnlyMany", AccessMode.RWX: "ReadWriteMany"}
_ACCESS_MODE = {name: int(mode) for mode, name in _ACCESS_MODES.items()}  # anything else: ReadWriteOnce (RWO)


def to_volume(volume: Volume) -> Json:
    """The pod volume for one request volume."""
    name, source = volume.get("name", ""), volume.get("source", "")
    kind = VolumeType(VolumeType.number(volume.get("volumeType")))
    items = [{"key": key, "path": path} for key, path in (volume.get("items") or {}).items()]
    match kind:
        case VolumeType.PERSISTENT_VOLUME_CLAIM:
            claim: Json = {"claimName": source}
            if volume.get("readOnly"):
                claim["readOnly"] = True
            return {"name": name, "persistentVolumeClaim": claim}
        case VolumeType.HOST_PATH:
            is_file = HostPathType.number(volume.get("hostPathType")) == HostPathType.FILE
            return {"name": name, "hostPath": {"path": source, "type": "File" if is_file else "Directory"}}
        case VolumeType.EPHEMERAL:
            return {"name": name, "ephemeral": {"volumeClaimTemplate": _claim_template(volume)}}
        case VolumeType.CONFIGMAP:
            return {"name": name, "configMap": {"name": source} | omit_zero({"items": items})}
        case VolumeType.SECRET:
            return {"name": name, "secret": {"secretName": source} | omit_zero({"items": items})}
        case VolumeType.EMPTY_DIR:
            storage = volume.get("storage", "")
            return {"name": name, "emptyDir": {"sizeLimit": canonical_quantity(storage)} if storage else {}}


def _claim_template(volume: Volume) -> Json:
    access_mode = _ACCESS_MODES.get(AccessMode.number(volume.get("accessMode")), "ReadWriteOnce")
    return {
        "metadata": {"labels": {MANAGED_BY: COMPONENT}},
        "spec": omit_zero({
            "accessModes": [access_mode],
            "storageClassName": volume.get("storageClassName", ""),
            "resources": {"requests": {"storage": canonical_quantity(volume.get("storage", ""))}},
        }),
    }


def to_mount(volume: Volume) -> Json:
    """`name` and `mountPath` are required by the CRD, so they are written even when empty."""
    mount: Json = {"name": volume.get("name", ""), "mountPath": volume.get("mountPath", "")}
    if volume.get("readOnly"):
        mount["readOnly"] = True
    propagation = _PROPAGATION.get(MountPropagation.number(volume.get("mountPropagationMode")))
    if propagation:
        mount["mountPropagation"] = propagation
    return mount


def to_api_mount(mount: Mapping[str, Any]) -> Json:
    """A mount without its volume (the autoscaler's, which shares the head pod's volumes)."""
    return omit_zero({"name": mount.get("name", ""), "mountPath": mount.get("mountPath", ""),
                      "readOnly": bool(mount.get("readOnly")), "mountPropagationMode": _propagation_mode(mount)})


def to_api_volumes(volumes: Iterable[Mapping[str, Any]], containers: Iterable[Mapping[str, Any]]) -> list[Json]:
    """Each pod volume with its mount, looked up by name in every container; unknown kinds are skipped.

    A volume nobody mounts comes back without `mountPath` (upstream's converter dereferences the
    missing mount and crashes).
    """
    mounts: dict[str, Mapping[str, Any]] = {}
    for container in containers:
        for mount in container.get("volumeMounts") or []:
            mounts.setdefault(mount.get("name", ""), mount)
    api_volumes = []
    for volume in volumes:
        api_volume = _to_api_volume(volume, mounts.get(volume.get("name", ""), {}))
        if api_volume is not None:
            api_volumes.append(api_volume)
    return api_volumes


def _to_api_volume(volume: Mapping[str, Any], mount: Mapping[str, Any]) -> Json | None:
    """Which fields come back depends on the kind, as upstream's converter reads them."""
    common = {"name": volume.get("name", ""), "mountPath": mount.get("mountPath", "")}
    propagation = _propagation_mode(mount)
    if "configMap" in volume or "secret" in volume:
        is_configmap = "configMap" in volume
        source = (volume["configMap"] if is_configmap else volume["secret"]) or {}
        items = {item.get("key", ""): item.get("path", "") for item in source.get("items") or []}
        return omit_zero({**common,
                          "volumeType": (VolumeType.CONFIGMAP if is_configmap else VolumeType.SECRET).value,
                          "source": source.get("name", "") if is_configmap else source.get("secretName", ""),
                          "items": items})
    if "emptyDir" in volume:
        limit = (volume["emptyDir"] or {}).get("sizeLimit")
        return omit_zero({**common, "volumeType": VolumeType.EMPTY_DIR.value, "storage": stored_quantity(limit)})
    if "hostPath" in volume:
        host = volume["hostPath"] or {}
        path_type = HostPathType.FILE if host.get("type") == "File" else HostPathType.DIRECTORY
        return omit_zero({**common, "volumeType": VolumeType.HOST_PATH.value, "source": host.get("path", ""),
                          "hostPathType": path_type.value, "mountPropagationMode": propagation})
    if "persistentVolumeClaim" in volume:
        claim = volume["persistentVolumeClaim"] or {}
        return omit_zero({**common, "source": claim.get("claimName", ""),
                          "readOnly": bool(claim.get("readOnly")), "mountPropagationMode": propagation})
    if "ephemeral" in volume:
        spec = ((volume["ephemeral"] or {}).get("volumeClaimTemplate") or {}).get("spec") or {}
        modes = spec.get("accessModes") or [""]
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        return omit_zero({**common, "volumeType": VolumeType.EPHEMERAL.value, "mountPropagationMode": propagation,
                          "accessMode": _ACCESS_MODE.get(modes[0], AccessMode.RWO.value),
                          "storage": stored_quantity(storage), "storageClassName": spec.get("storageClassName", "")})
    return None


def _propagation_mode(mount: Mapping[str, Any]) -> int:
    return _PROPAGATION_MODE.get(mount.get("mountPropagation", ""), MountPropagation.NONE.value)
