"""The engine's quota check at submission, answered by the product service (SPEC 3.6).

It fails closed: when the product service cannot answer, the submission is refused as
UNAVAILABLE and nothing is stored, rather than letting tasks past a quota nobody checked.
"""

from __future__ import annotations

from agentledger.core.errors import Unavailable
from services.product.client import ProductClient


class ProductQuotaGate:
    def __init__(self, client: ProductClient) -> None:
        self._client = client

    async def check_submit(
        self, owner: str, tenant: str, active_owner: int, active_tenant: int
    ) -> None:
        try:
            await self._client.check_quota(
                owner=owner,
                tenant=tenant,
                action="submit",
                active_owner=active_owner,
                active_tenant=active_tenant,
            )
        except Unavailable as exc:
            raise Unavailable(
                f"the quota check could not be made ({exc}); the task was not stored, "
                "submit it again"
            ) from None
