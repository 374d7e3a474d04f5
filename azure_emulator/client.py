# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Python client for a running emulator: its state, the control API, and ready-made SDK clients."""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
from typing import Any

from .cli import read_state, start_background, stop_background

__all__ = ["EmulatorClient"]


class EmulatorClient:
    """Talks to one emulator; build it from a state dir (``from_state_dir``) or start one (``start``)."""

    def __init__(self, state: dict) -> None:
        self.state = state
        self.endpoint: str = state["endpoint"]
        self.metadata_url: str = state["metadata_url"]
        self.ca_cert: str = state["ca_cert"]
        self.ca_bundle: str = state["ca_bundle"]
        self.tenant_id: str = state["tenant_id"]
        self.client_id: str = state["client_id"]
        self.client_secret: str = state["client_secret"]
        self.subscription_id: str = state["subscription_id"]
        self.audience: str = state["audience"]
        self.state_dir: str = state["state_dir"]
        self._ssl = ssl.create_default_context(cafile=self.ca_cert)

    # -- lifecycle --------------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        state_dir: str,
        latency: str | None = None,
        latency_scale: float = 1.0,
        *,
        enforce_nsg: bool = False,
        **backend: str,
    ) -> EmulatorClient:
        """``backend``: ``vm_backend="guest"``, ``guest_kind``, ``guest_suite`` (see ``start_background``)."""
        return cls(start_background(state_dir, latency, latency_scale, enforce_nsg=enforce_nsg, **backend))

    @classmethod
    def from_state_dir(cls, state_dir: str) -> EmulatorClient:
        state = read_state(state_dir)
        if state is None:
            raise FileNotFoundError(f"no emulator state in {state_dir}")
        return cls(state)

    def stop(self) -> None:
        stop_background(self.state_dir)

    # -- control API ------------------------------------------------------------------------------
    def _call(self, method: str, what: str, body: Any = None, timeout: float = 120.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/_emulator/{what}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, context=self._ssl, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def requests(self, since: int = 0) -> list[dict]:
        """The request log: dicts with seq, method, path, query, api_version, status, body (as sent), fault."""
        return self._call("GET", f"requests?since={since}")["requests"]

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def reset(self) -> None:
        """Forget all resources, operations, requests, faults, latency settings and registered certificates;
        stop every daemon."""
        self._call("POST", "reset")

    def add_fault(self, kind: str, path: str = "", **spec: Any) -> dict:
        """Inject a fault; see README.md "Faults" (kinds: throttle, error, operation, extension)."""
        return self._call("POST", "faults", {"kind": kind, "path": path, **spec})

    def faults(self) -> list[dict]:
        return self._call("GET", "faults")["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def set_latency(
        self, profile: str | None = None, scale: float = 1.0, operations: dict[str, float] | None = None
    ) -> dict:
        return self._call("POST", "latency", {"profile": profile, "scale": scale, "operations": operations or {}})

    def latency(self) -> dict:
        return self._call("GET", "latency")

    def set_network(self, enforce_nsg: bool | None = None, client_address: str | None = None) -> dict:
        """Opt in to NSG enforcement; every client is judged as coming from ``client_address`` (a public IP)."""
        spec: dict = {}
        if enforce_nsg is not None:
            spec["enforce_nsg"] = enforce_nsg
        if client_address is not None:
            spec["client_address"] = client_address
        return self._call("POST", "network", spec)

    def network(self) -> dict:
        return self._call("GET", "network")

    def register_certificate(self, pem: str) -> dict:
        """Register a certificate (PEM, public part only, RSA) on the service principal, as in Entra ID's
        app registration; its key may then sign client assertions. Cleared by :meth:`reset`."""
        return self._call("POST", "certificates", {"certificate": pem})

    def certificates(self) -> list[dict]:
        return self._call("GET", "certificates")["certificates"]

    def clear_certificates(self) -> None:
        self._call("DELETE", "certificates")

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until no long-running operation is in progress."""
        return self._call("POST", "wait", {"timeout": timeout}, timeout=timeout + 10)["idle"]

    def vms(self) -> list[dict]:
        """What the VM agent runs: per VM its public IP and its extensions' daemons."""
        return self._call("GET", "vms")["vms"]

    # -- for SDK clients and subprocesses ------------------------------------------------------------
    @property
    def credential_scope(self) -> str:
        return self.audience.rstrip("/") + "/.default"

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (ansible-playbook): CA bundle and the service principal."""
        return {
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "SSL_CERT_FILE": self.ca_bundle,
            "CURL_CA_BUNDLE": self.ca_bundle,
            "AZURE_SUBSCRIPTION_ID": self.subscription_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_SECRET": self.client_secret,
            "AZURE_TENANT": self.tenant_id,
            "AZURE_CLOUD_ENVIRONMENT": self.metadata_url,
        }

    def credential(self, secret: str | None = None):
        from azure.identity import ClientSecretCredential  # noqa: PLC0415 - only tests need the SDK

        return ClientSecretCredential(
            self.tenant_id,
            self.client_id,
            self.client_secret if secret is None else secret,
            authority=self.endpoint,
            disable_instance_discovery=True,
        )

    def _sdk_kwargs(self, polling_interval: float) -> dict:
        return {
            "base_url": self.endpoint,
            "credential_scopes": [self.credential_scope],
            "polling_interval": polling_interval,
        }

    def resource_client(self, polling_interval: float = 0.2, **kwargs: Any):
        from azure.mgmt.resource.resources import ResourceManagementClient  # noqa: PLC0415

        return ResourceManagementClient(
            self.credential(), self.subscription_id, **self._sdk_kwargs(polling_interval), **kwargs
        )

    def network_client(self, polling_interval: float = 0.2, **kwargs: Any):
        from azure.mgmt.network import NetworkManagementClient  # noqa: PLC0415

        return NetworkManagementClient(
            self.credential(), self.subscription_id, **self._sdk_kwargs(polling_interval), **kwargs
        )

    def compute_client(self, polling_interval: float = 0.2, **kwargs: Any):
        from azure.mgmt.compute import ComputeManagementClient  # noqa: PLC0415

        return ComputeManagementClient(
            self.credential(), self.subscription_id, **self._sdk_kwargs(polling_interval), **kwargs
        )

    def use_ca_bundle(self, monkeypatch=None) -> None:
        """Point REQUESTS_CA_BUNDLE/SSL_CERT_FILE at system CAs + the emulator CA (pytest: pass monkeypatch)."""
        for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
            if monkeypatch is not None:
                monkeypatch.setenv(name, self.ca_bundle)
            else:
                os.environ[name] = self.ca_bundle
