"""The etcd v3 side of the datastore: an asyncio client (``aetcd``, the ``pybgp[etcd]``
extra) reduced to the three calls pybgp needs: connect, snapshot a prefix, watch it.

Only this module imports ``aetcd``/``grpc``; it is imported when a ``[datastore]`` table is
configured, never by the core. aetcd's client opens plain channels only, so TLS (``ca_file``,
``cert_file``, ``key_file``) is added here by opening the gRPC channel with SSL credentials;
user/password is aetcd's own Authenticate call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pybgp.config.values import DatastoreConfig

__all__ = ["Change", "EtcdError", "EtcdLink", "import_client"]

Change = tuple[str, bytes | None, int]
"""(key, value or None when deleted, modification revision) of one watch event."""


class EtcdError(Exception):
    """etcd is unreachable, refused us, or compacted the revision we watch from."""


class Compacted(EtcdError):
    """The watch start revision was compacted: resync from a new snapshot."""


def import_client() -> Any:
    """The ``aetcd`` module, or a clear error naming the extra to install."""
    try:
        import aetcd
    except ImportError:
        raise EtcdError(
            "the etcd datastore needs the aetcd package: pip install 'pybgp[etcd]'"
        ) from None
    return aetcd


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise EtcdError(f"cannot read {path}: {exc.strerror or exc}") from None


def _channel_options(config: DatastoreConfig) -> dict[str, Any]:
    # Detect a dead link (partition) on an idle watch stream: etcd accepts pings every 5 s
    # by default (--grpc-keepalive-min-time). gRPC keeps its connections (subchannels) in a
    # process-wide pool with their own exponential reconnect back-off: a new channel after a
    # long outage would inherit a back-off of ten seconds and more (measured: 15 s after a
    # 30 s outage with reconnect_max = 2). Each channel gets its own subchannels, and gRPC's
    # back-off stays within the agent's.
    return {
        "grpc.use_local_subchannel_pool": 1,
        "grpc.max_reconnect_backoff_ms": int(config.reconnect_max * 1000),
        "grpc.keepalive_time_ms": 5000,
        "grpc.keepalive_timeout_ms": 3000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.http2.max_pings_without_data": 0,
        "grpc.max_receive_message_length": 256 * 1024 * 1024,
    }


class EtcdLink:
    """One connection to one of the configured endpoints."""

    def __init__(self, config: DatastoreConfig) -> None:
        self.config = config
        self.endpoint = ""
        self._client: Any = None

    async def connect(self) -> None:
        """Connect to the first endpoint that answers (a status call proves it)."""
        aetcd = import_client()
        errors = []
        for url in self.config.endpoints:
            parts = urlsplit(url if "://" in url else f"http://{url}")
            client = _make_client(aetcd, self.config, parts.hostname or "", parts.port or 2379,
                                  parts.scheme == "https")
            try:
                await asyncio.wait_for(client.connect(), self.config.timeout)
                await asyncio.wait_for(client.status(), self.config.timeout)
            except (Exception, asyncio.TimeoutError) as exc:  # noqa: UP041
                errors.append(f"{url}: {_describe(exc)}")
                with contextlib.suppress(Exception):
                    await client.close()
                continue
            self._client = client
            self.endpoint = url
            return
        raise EtcdError("no etcd endpoint answers (" + "; ".join(errors) + ")")

    async def close(self) -> None:
        """Close the channel (and every watch on it)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), self.config.timeout)

    async def snapshot(self, prefix: str) -> tuple[int, list[tuple[str, bytes]]]:
        """Every key under ``prefix`` and the store's revision at that moment."""
        try:
            result = await asyncio.wait_for(
                self._client.get_prefix(prefix.encode()), self.config.timeout * 4
            )
        except (Exception, asyncio.TimeoutError) as exc:  # noqa: UP041
            raise EtcdError(f"snapshot of {prefix}: {_describe(exc)}") from None
        items = [(kv.key.decode(), bytes(kv.value)) for kv in result]
        return int(result.header.revision), items

    async def probe(self) -> None:
        """A cheap request that fails when etcd is unreachable (or has no leader)."""
        try:
            await asyncio.wait_for(self._client.status(), self.config.timeout)
        except (Exception, asyncio.TimeoutError) as exc:  # noqa: UP041
            raise EtcdError(f"etcd {self.endpoint} does not answer: {_describe(exc)}") from None

    async def watch(self, prefix: str, start_revision: int) -> AsyncIterator[Change]:
        """Every change under ``prefix`` from ``start_revision`` on (inclusive), in order."""
        aetcd = import_client()
        try:
            watch = await asyncio.wait_for(
                self._client.watch_prefix(prefix.encode(), start_revision=start_revision),
                self.config.timeout,
            )
        except aetcd.exceptions.RevisionCompactedError as exc:
            raise Compacted(f"revision {start_revision} compacted") from exc
        except (Exception, asyncio.TimeoutError) as exc:  # noqa: UP041
            raise EtcdError(f"watch {prefix}: {_describe(exc)}") from None
        try:
            async for event in watch:
                value = None if event.kind == "DELETE" else bytes(event.kv.value)
                yield event.kv.key.decode(), value, int(event.kv.mod_revision)
        except aetcd.exceptions.RevisionCompactedError as exc:
            raise Compacted(f"revision {start_revision} compacted") from exc
        except Exception as exc:
            raise EtcdError(f"watch {prefix}: {_describe(exc)}") from None
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(watch.cancel(), 1.0)
        raise EtcdError(f"watch {prefix} ended")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _make_client(aetcd: Any, config: DatastoreConfig, host: str, port: int, tls: bool) -> Any:
    username = config.username or None
    password = config.password or None
    options = _channel_options(config)
    if not (tls or config.ca_file or config.cert_file):
        return aetcd.Client(host, port, username, password, options=options)
    import grpc

    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(config.ca_file) if config.ca_file else None,
        private_key=_read(config.key_file) if config.key_file else None,
        certificate_chain=_read(config.cert_file) if config.cert_file else None,
    )

    class TlsClient(aetcd.Client):  # type: ignore[misc]
        """aetcd's client over a TLS channel (its own connect() opens plain ones)."""

        async def connect(self) -> None:
            rpc = aetcd.rpc
            if self._connected.is_set():
                return
            target = f"{self._host}:{self._port}"
            self.channel = rpc.secure_channel(target, credentials, options=options.items())
            if self._username is not None and self._password is not None:
                self.auth_stub = rpc.AuthStub(self.channel)
                response = await self.auth_stub.Authenticate(
                    rpc.AuthenticateRequest(name=self._username, password=self._password),
                    timeout=self._timeout,
                )
                self.metadata = (("token", response.token),)
            self.kvstub = rpc.KVStub(self.channel)
            self.clusterstub = rpc.ClusterStub(self.channel)
            self.leasestub = rpc.LeaseStub(self.channel)
            self.maintenancestub = rpc.MaintenanceStub(self.channel)
            self._watcher = aetcd.watcher.Watcher(
                rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata
            )
            self._connected.set()

    return TlsClient(host, port, username, password, options=options)
