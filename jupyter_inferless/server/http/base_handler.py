"""The base of every handler: authentication, authorisation, JSON errors, request parsing."""

from __future__ import annotations

import json
from asyncio import Future
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import httputil, web

from ...contract import decode_body, decode_query
from ..decode import bodies
from ..decode.binary_tensors import HEADER_LENGTH
from ..decode.bodies import Body, Read
from ..kernels.replicas import Replicas
from ..observe import metrics
from ..service import Service
from ..streams.stream import Stream
from . import http_errors
from .request_body import LimitedBody

AUTH_RESOURCE = "kernels"


def reason_phrase(status_code: int, error: BaseException | None, reason: str | None) -> str:
    """The reason phrase tornado's send_error gave the status line: an HTTPError's own
    ``reason``, else send_error's ``reason`` argument, else the status code's standard one."""
    if isinstance(error, web.HTTPError) and error.reason:
        return error.reason
    if reason is not None:
        return reason
    return httputil.responses.get(status_code, "Unknown")


def error_message(error: web.HTTPError) -> str | None:
    """An HTTPError's message with its arguments put in, from its public ``log_message`` and
    ``args`` (``get_message`` is new in tornado 6.5; this package allows 6.4)."""
    if not error.log_message:
        return None
    return error.log_message % error.args


class InferlessHandler(APIHandler, LimitedBody):
    """Base: authenticated, authorised on ``kernels``, errors as ``{"error", "kind"}``.

    Handlers let the service's refusals (``errors.py``) propagate: ``write_error`` answers
    each with the status ``http_errors`` maps it to.
    """

    auth_resource = AUTH_RESOURCE
    metered = False
    """Whether the status this handler answers counts in ``inferless_requests_total``."""
    model_label = metrics.UNKNOWN_MODEL
    """The model a metered request counts under: the served model it found (``find_model``)."""
    _status_counted = False

    async def prepare(self) -> None:  # type: ignore[override]  # as APIHandler.prepare
        """jupyter_server's checks (authentication, XSRF, host), then, before any of the body
        is read, its own: only from an authenticated client, within max_body_bytes
        (``request_body``). A request that starts a run takes its turn later (``TurnGate``)."""
        await super().prepare()
        self.limit_body(self.service.max_body_bytes)

    @property
    def service(self) -> Service:
        """The serving service of this server."""
        service: Service = self.settings["inferless_service"]
        return service

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is JSON ``{"error": message, "kind": KIND}`` (an ErrorKind value);
        never a traceback."""
        exc_info = kwargs.get("exc_info")
        error: BaseException | None = exc_info[1] if exc_info else None
        message = reason_phrase(status_code, error, kwargs.get("reason"))
        refusal = None if error is None else http_errors.refusal_of(error)
        if error is not None and refusal is not None:  # a refusal from below this layer
            status, kind = refusal
            self.set_status(status)
            message = str(error)
            retry_after = http_errors.retry_after(error)
            if retry_after:
                self.set_header("Retry-After", str(retry_after))
        else:  # tornado's or a handler's HTTPError, or a bug (500): the status's kind
            kind = http_errors.kind_of_status(self.get_status())
            if isinstance(error, web.HTTPError):
                message = error_message(error) or message
            elif error is not None:
                message = "internal error; see the server log"
        if self.get_status() == 405:  # RFC 9110: a 405 lists the methods the resource has
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message, "kind": kind.value}))

    def allowed_methods(self) -> list[str]:
        """The methods this handler answers (those it defines)."""
        return [
            method
            for method in self.SUPPORTED_METHODS
            if getattr(type(self), method.lower())
            is not getattr(web.RequestHandler, method.lower())
        ]

    def flush(self, include_footers: bool = False) -> Future[None]:
        """Send what was written; the first flush sends the status, which is counted here."""
        if self.metered and not self._status_counted:
            self._status_counted = True
            self.service.metrics.answered(self.model_label, self.get_status())
        return super().flush(include_footers)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Log errors by path only: the query string may hold the token (EventSource GET)."""
        where = f"{self.request.method} {self.request.path}"
        status = http_errors.status_of(value)
        if status is not None:
            self.log.warning("%d %s: %s", status, where, value)
        elif isinstance(value, web.HTTPError):
            message = error_message(value)
            if message:
                self.log.warning("%d %s: %s", value.status_code, where, message)
        else:
            self.log.error("uncaught exception in %s", where, exc_info=(typ, value, tb))

    def refuse_cross_site(self) -> None:
        """403 for a login-cookie request that another site or origin may have made.

        Runs are started, read and cancelled only by the token (Authorization header or
        ``?token=``, which another site cannot know) or by a page of this server: the
        browser says so in ``Sec-Fetch-Site: same-origin``. Browsers send no ``Sec-Fetch-*``
        to plain http on a LAN address; there a GET must carry jupyter_server's own proof
        (the ``_xsrf`` value as a query argument or ``X-XSRFToken``, or a Referer of this
        server), as its POSTs always must.
        """
        if self.token_authenticated or self.settings.get("disable_check_xsrf", False):
            return
        site = self.request.headers.get("Sec-Fetch-Site")
        if site is not None:
            if site.strip().lower() == "same-origin":
                return
            raise web.HTTPError(
                403,
                f"cross-site request refused (Sec-Fetch-Site: {site[:24]}): with the login "
                "cookie, only a page of this server may start, read or cancel a run; other "
                "clients send the token (Authorization header or ?token=)",
            )
        if self.request.method in ("GET", "HEAD"):
            try:
                self.check_xsrf_cookie()
            except web.HTTPError:
                raise web.HTTPError(
                    403,
                    "cross-site check failed: a GET with the login cookie and no Sec-Fetch-Site "
                    "header needs the _xsrf value (query argument _xsrf or header X-XSRFToken) "
                    "or a Referer of this server; other clients send the token",
                ) from None

    def json_body(self) -> Any:
        """The request body as JSON, or a 400/413 naming what is wrong (``bodies``)."""
        return bodies.json_body(self.body())

    def body(self, infer: bool = False) -> Body:
        """The request's body with the server's limits, to read as JSON, or (``infer``) as
        a v2 infer request, binary when it has an Inference-Header-Content-Length."""
        length = self.request.headers.get(HEADER_LENGTH) if infer else None
        limits = (self.service.max_body_bytes, self.service.max_input_depth)
        return Body(self.request.body, *limits, infer=infer, header_length=length)

    def large_body(self) -> bool:
        """Whether the body is read off the loop (``decoding.py``); 413 first when it is
        larger than max_body_bytes."""
        if len(self.request.body) > self.service.max_body_bytes:
            raise web.HTTPError(413, f"the body is larger than {self.service.max_body_bytes} bytes")
        return not self.service.decoding.inline(len(self.request.body))

    def find_model(self, name: str) -> Replicas:
        """The served model ``name`` (else ModelNameError, ModelNotFound); the request
        counts under it from now on."""
        model = self.service.model(name)
        self.model_label = model.name
        return model

    async def start_large(self, name: str, infer: bool = False) -> tuple[Stream, Read]:
        """``start`` for a large body: once the model is found, a decode thread or process
        reads the body, checks its inputs and packs them."""
        self.refuse_cross_site()
        return await self.service.start_large(self.find_model(name), self.body(infer))

    async def start_request(self, name: str, query: bool) -> Stream:
        """Start a request whose inputs are in the query, or in the JSON body (off the loop
        when it is large)."""
        if not query and self.large_body():
            return (await self.start_large(name))[0]
        return self.start(name, None if query else self.json_body(), query=query)

    def start(self, name: str, body: Any = None, query: bool = False) -> Stream:
        """Validate and start a request; a refusal propagates to ``write_error``."""
        self.refuse_cross_site()
        model = self.find_model(name)
        if query:
            arguments = {
                key: [value.decode("utf-8", "replace") for value in values]
                for key, values in self.request.query_arguments.items()
            }
            return self.service.start(model, lambda schema: decode_query(schema, arguments))
        depth = self.service.max_input_depth
        return self.service.start(model, lambda schema: decode_body(schema, body, depth))
