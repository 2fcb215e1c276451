"""Admin pages of the web app: customers, axes, data import and settings.

Every page is readable by viewers. Routes that change the workspace take the
`EditorUser` (or `AdminUser`) dependency, so a viewer's write gets 403, and the
templates show write controls only to users whose role allows them. Each page
has its own module (`_admin_*.py`); this one gathers their routes.
"""

from __future__ import annotations

from fastapi import APIRouter

from revaxis.web import _admin_axes, _admin_customers, _admin_data, _admin_settings

router = APIRouter(include_in_schema=False)
for _module in (_admin_customers, _admin_axes, _admin_data, _admin_settings):
    router.include_router(_module.router)
