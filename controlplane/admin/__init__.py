"""The REST admin API of the control plane (aiohttp), under ``/v1/``."""

from edgeway.controlplane.admin.app import build_admin_app
from edgeway.controlplane.admin.errors import ApiError

__all__ = ["ApiError", "build_admin_app"]
