"""The ARM clients' pipeline: azure-mgmt's own policies in their own order, less one, plus ARM pacing.

Left out: azure-mgmt-core's ``ARMAutoResourceProviderRegistrationPolicy``. On a 409 ``MissingSubscriptionRegistration``
it POSTs ``/providers/<namespace>/register`` in the customer's subscription and then polls, with no time limit, until
the provider is registered. This app never registers resource providers: the 409 surfaces as
``PROVIDER_NOT_REGISTERED``, with ``az provider register`` as the fix. The generated clients take an explicit
``policies`` list; everything else here is what their configuration would build.
"""

from __future__ import annotations

from typing import Any

from azure.core.pipeline import policies
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy, ARMHttpLoggingPolicy

from shared.adapters.arm_pacing import ArmPacingPolicy


def arm_policies(credential: Any, scopes: list[str], pacing: ArmPacingPolicy | None, **options: Any) -> list[Any]:
    """A fresh list for one client (policies link to the next one, so none is shared)."""
    return [
        policies.RequestIdPolicy(**options),
        policies.HeadersPolicy(**options),
        policies.UserAgentPolicy(**options),
        policies.ProxyPolicy(**options),
        policies.ContentDecodePolicy(**options),
        policies.RedirectPolicy(**options),
        policies.RetryPolicy(**options),
        *([pacing] if pacing else []),  # after the retry policy: every attempt takes a token
        ARMChallengeAuthenticationPolicy(credential, *scopes, **options),
        policies.CustomHookPolicy(**options),
        policies.NetworkTraceLoggingPolicy(**options),
        policies.DistributedTracingPolicy(**options),
        policies.SensitiveHeaderCleanupPolicy(**options),
        ARMHttpLoggingPolicy(**options),
    ]
