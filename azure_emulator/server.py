# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTPS server: one :class:`Emulator` behind a stdlib ThreadingHTTPServer with the emulator's own CA."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import threading
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import providers
from .aad import AUDIENCE, Identity, check_bearer, metadata_response, openid_configuration, token_response
from .arm import ResourceManager
from .certs import make_server_tls
from .control import FaultTable, Latency, RequestLog, parse_json_body
from .core import ArmError, Request, Response, error_body, new_id
from .lro import OperationEngine

__all__ = ["Emulator"]

# The address the NSG gate sees every client as (TEST-NET-3, documentation space: public, never routed).
DEFAULT_CLIENT_ADDRESS = "203.0.113.10"

log = logging.getLogger("azure_emulator")


class Emulator:
    """ARM + Azure AD + metadata + VM agent, serving on ``https://host:port`` (port 0: any free port)."""

    def __init__(
        self,
        state_dir: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: str | None = None,
        latency_scale: float = 1.0,
        identity: Identity | None = None,
        enforce_nsg: bool = False,
        vm_backend: str = "fast",
        guest_kind: str = "nspawn",
        guest_suite: str = "bookworm",
    ) -> None:
        self.state_dir = os.path.abspath(state_dir)
        # fast: vmagent.py (the default); guest: every VM is a booted guest (guest_agent.py)
        self.vm_backend = {"backend": vm_backend}
        if vm_backend == "guest":
            self.vm_backend.update(kind=guest_kind, suite=guest_suite)
        os.makedirs(self.state_dir, exist_ok=True)
        self.lock = threading.RLock()
        self.identity = identity or Identity()
        self.ops = OperationEngine(self.lock)
        self.log = RequestLog()
        self.faults = FaultTable()
        self.latency = Latency(latency, latency_scale)
        self.arm = ResourceManager(self)
        self.agent = None  # the VM agent (compute.py), set by providers.register
        self.address_pool = None  # public IP addresses (network.py)
        self.enforce_nsg = enforce_nsg  # opt-in: NSG rules decide who reaches a VM's daemon (gate.py)
        self.client_address = DEFAULT_CLIENT_ADDRESS
        self._start_network = (enforce_nsg, DEFAULT_CLIENT_ADDRESS)
        self.public_ips = None
        self._register_providers()
        self.tls = make_server_tls(os.path.join(self.state_dir, "tls"), (host,))
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.emulator = self  # type: ignore[attr-defined]
        self.httpd.socket = self.tls.context().wrap_socket(
            self.httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.host, self.port = self.httpd.server_address[:2]
        self.endpoint = f"https://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def _register_providers(self) -> None:
        """The resource providers (network, compute) and the VM agent."""
        providers.register(self)

    # -- state ------------------------------------------------------------------------------------
    @property
    def metadata_url(self) -> str:
        return f"{self.endpoint}/metadata/endpoints?api-version=2022-09-01"

    def state(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "metadata_url": self.metadata_url,
            "ca_cert": self.tls.ca_cert,
            "ca_bundle": self.tls.ca_bundle,
            "tenant_id": self.identity.tenant_id,
            "client_id": self.identity.client_id,
            "client_secret": self.identity.client_secret,
            "subscription_id": self.identity.subscription_id,
            "audience": AUDIENCE,
            "pid": os.getpid(),
            "state_dir": self.state_dir,
            "latency": self.latency.as_dict(),
            "network": self._network_settings(),
            "vm_backend": dict(self.vm_backend),
        }

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Serve on a background thread (in-process use)."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="azure-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def shutdown(self) -> None:
        """Stop serving, stop every daemon the VM agent started, and abandon running operations."""
        with contextlib.suppress(Exception):
            self.httpd.shutdown()
        self.httpd.server_close()
        self.ops.shutdown()
        self.arm.reset()
        if self.agent is not None:
            self.agent.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def reset(self) -> None:
        """Forget every resource, operation, request, fault, latency setting and registered certificate.

        Every daemon is stopped."""
        self.ops.reset()
        self.arm.reset()
        if self.agent is not None:
            self.agent.reset()
        self.log.clear()
        self.faults.clear()
        self.latency.reset()
        self.enforce_nsg, self.client_address = self._start_network
        self.identity.key_credentials.clear()

    def note_fault(self, request: Request, fault) -> None:
        request.headers["x-emulator-fault"] = fault.id

    # -- dispatch ---------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        lowered = request.path.lower()
        if lowered.startswith("/_emulator/"):
            try:
                return self._control(request, lowered[len("/_emulator/") :].strip("/"))
            except (ValueError, TypeError) as exc:
                return Response(400, error_body("InvalidControlRequest", str(exc)))
            except ArmError as exc:
                return exc.response()
        fault = self.faults.take(request, ("throttle", "error"))
        if fault is not None:
            response = fault.response(request, self.identity.subscription_id)
            self.note_fault(request, fault)
        else:
            try:
                response = self._route(request, lowered)
            except ArmError as exc:
                response = exc.response()
            except Exception:
                log.error("unhandled error for %s %s\n%s", request.method, request.path, traceback.format_exc())
                response = Response(
                    500,
                    error_body("InternalServerError", "Encountered internal server error (emulator bug)."),
                )
        self._common_headers(request, response)
        self.log.add(request, response.status, request.headers.get("x-emulator-fault"))
        return response

    def _route(self, request: Request, lowered: str) -> Response:
        if lowered == "/metadata/endpoints":
            return metadata_response(request, self.endpoint)
        if lowered == "/subscriptions" or lowered.startswith("/subscriptions/"):
            check_bearer(request, self.identity)
            return self.arm.handle(request)
        parts = request.path.strip("/").split("/")
        low = [p.lower() for p in parts]
        if len(parts) == 4 and low[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return openid_configuration(self.endpoint, parts[0], self.identity)
        if len(parts) == 4 and low[1:] == ["oauth2", "v2.0", "token"] and request.method == "POST":
            return token_response(request, parts[0], self.identity, self.endpoint)
        raise ArmError(404, "NotFound", f"No HTTP resource was found that matches the request URI '{request.path}'.")

    def _common_headers(self, request: Request, response: Response) -> None:
        rid = new_id()
        response.headers.setdefault("Cache-Control", "no-cache")
        response.headers.setdefault("Pragma", "no-cache")
        response.headers.setdefault("x-ms-request-id", rid)
        response.headers.setdefault("x-ms-correlation-request-id", request.header("x-ms-correlation-request-id") or rid)
        response.headers.setdefault("x-ms-routing-request-id", f"EMULATOR:{rid}")
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.lower().startswith("/subscriptions"):
            kind = "reads" if request.method in ("GET", "HEAD") else "writes"
            response.headers.setdefault(f"x-ms-ratelimit-remaining-subscription-{kind}", "11999")

    # -- control API ---------------------------------------------------------------------------------
    def _control(self, request: Request, what: str) -> Response:
        routes = {
            ("GET", "health"): lambda: Response(200, {"status": "ok"}),
            ("GET", "state"): lambda: Response(200, self.state()),
            ("GET", "requests"): lambda: Response(
                200, {"requests": self.log.entries(int(request.query.get("since", "0")))}
            ),
            ("DELETE", "requests"): self.log.clear,
            ("POST", "reset"): self.reset,
            ("GET", "faults"): lambda: Response(200, {"faults": self.faults.list()}),
            ("POST", "faults"): lambda: Response(201, self.faults.add(parse_json_body(request)).as_dict()),
            ("DELETE", "faults"): self.faults.clear,
            ("GET", "latency"): lambda: Response(200, self.latency.as_dict()),
            ("POST", "latency"): lambda: self._set_latency(request),
            ("POST", "wait"): lambda: Response(
                200, {"idle": self.ops.wait_idle(float(parse_json_body(request).get("timeout", 60)))}
            ),
            ("GET", "vms"): lambda: Response(200, {"vms": self.agent.describe() if self.agent is not None else []}),
            ("GET", "network"): lambda: Response(200, self._network_settings()),
            ("GET", "certificates"): lambda: Response(200, {"certificates": self.identity.certificates()}),
            ("POST", "certificates"): lambda: Response(
                201, self.identity.add_certificate(str(parse_json_body(request).get("certificate", "")))
            ),
            ("DELETE", "certificates"): self.identity.key_credentials.clear,
            ("POST", "network"): lambda: self._set_network(request),
        }
        route = routes.get((request.method, what))
        if route is None:
            raise ArmError(404, "NotFound", f"No control endpoint {request.method} /_emulator/{what}.")
        answer = route()
        return answer if isinstance(answer, Response) else Response(204)

    def _network_settings(self) -> dict:
        return {"enforce_nsg": self.enforce_nsg, "client_address": self.client_address}

    def _set_network(self, request: Request) -> Response:
        spec = parse_json_body(request)
        unknown = set(spec) - {"enforce_nsg", "client_address"}
        if unknown:
            raise ValueError(f"unknown network keys: {', '.join(sorted(unknown))}")
        if "client_address" in spec:
            address = ipaddress.ip_address(spec["client_address"])
            if address.is_loopback or address.is_unspecified or address.version != 4:
                raise ValueError("client_address must be an IPv4 address as Azure would see the client")
            self.client_address = str(address)
        if "enforce_nsg" in spec:
            self.enforce_nsg = bool(spec["enforce_nsg"])
        return Response(200, self._network_settings())

    def _set_latency(self, request: Request) -> Response:
        spec = parse_json_body(request)
        unknown = set(spec) - {"profile", "scale", "operations"}
        if unknown:
            raise ValueError(f"unknown latency keys: {', '.join(sorted(unknown))}")
        self.latency.set(
            profile=spec.get("profile"), scale=float(spec.get("scale", 1.0)), operations=spec.get("operations")
        )
        return Response(200, self.latency.as_dict())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AzureEmulator/1.0"
    sys_version = ""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        split = urllib.parse.urlsplit(self.path)
        query = {k.lower(): v[-1] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
        request = Request(
            method=self.command,
            path=split.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_query=split.query,
        )
        emulator: Emulator = self.server.emulator  # type: ignore[attr-defined]
        response = emulator.dispatch(request)
        data = response.encoded()
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _handle

    def log_message(self, format, *args) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


def write_state(path: str, state: dict) -> None:
    """Write the state file atomically (0600: it holds the client secret)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2)
    os.replace(tmp, path)
