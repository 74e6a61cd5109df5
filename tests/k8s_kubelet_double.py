"""A Kubernetes API on 127.0.0.1 for tests, with a kubelet double that really runs the pods in Docker.

No real cluster can run on the test machine, so the Kubernetes backend is tested against:

* the API of ``kmock``'s ``KubernetesEmulator`` (a real HTTP server speaking the Kubernetes
  REST API: pods are created, read, listed, patched and deleted as on a cluster; nothing runs
  them and their status stays empty), and
* :class:`FakeCluster` with ``docker_client=...``: a **kubelet double**. It stands in for the
  kubelet (and for the API server's exec proxy): it starts a Docker container for each new pod
  from the pod's spec (image, command, user, env, working dir, read-only root, capabilities,
  no-new-privileges, emptyDirs as tmpfs, memory/CPU limits), reports the pod Running/Ready (or
  ImagePullBackOff with an event when the image is missing) through the API, removes the
  container when the pod is deleted, and serves ``pods/exec`` with the real websocket protocol:
  subprotocol ``v4.channel.k8s.io`` (or ``v5``), binary frames prefixed with the channel byte
  (0 stdin, 1 stdout, 2 stderr), the exit status as a ``metav1.Status`` JSON on channel 3, then
  the close. Closing the stream from the client leaves the process running, as on a real node.

So the backend's own code and the official client's websocket code run unchanged; only the
node is a double. Like a kubelet with ``podPidsLimit``, it caps pids at 256; pods labelled
``llm-sandbox.role`` in ``egress_roles`` get the host network (standing in for a NetworkPolicy
that leaves installer pods their egress), all others ``network_mode="none"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import struct
import threading
import time
import uuid
from typing import Any

import aiohttp
import aiohttp.web
import kmock
from kubernetes import client as k8s

from tests.waits import eventually

V4 = "v4.channel.k8s.io"
V5 = "v5.channel.k8s.io"
_EXEC_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/exec$")
_UNITS = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}


def _bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"([\d.]+)([A-Za-z]*)", str(quantity)).groups()  # type: ignore[union-attr]
    return int(float(number) * _UNITS[unit])


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _status(code: int, command: list[str]) -> bytes:
    """What the kubelet sends on channel 3 when the process ends."""
    if code == 0:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    return json.dumps({
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {command}, "
        f"exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }).encode()


class FakeCluster:
    """kmock's Kubernetes API on 127.0.0.1; with ``docker_client``, plus the kubelet double."""

    def __init__(
        self,
        docker_client: Any = None,
        *,
        protocols: tuple[str, ...] = (V4,),
        egress_roles: tuple[str, ...] = ("installer",),
    ) -> None:
        self.docker = docker_client
        self.protocols = protocols
        self.egress_roles = egress_roles
        self.label = f"llm-sandbox-test.kubelet-double={uuid.uuid4().hex[:8]}"
        self.containers: dict[tuple[str, str], str] = {}  # (namespace, pod) -> container id
        self.exec_count = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        self.url = ""

    # lifecycle ----------------------------------------------------------
    def __enter__(self) -> FakeCluster:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        if self.docker is not None:
            self._syncer = threading.Thread(target=self._sync_forever, daemon=True)
            self._syncer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join(10)
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if self.docker is not None:
            for container in self.docker.containers.list(all=True, filters={"label": self.label}):
                with contextlib.suppress(Exception):
                    container.remove(force=True)

    async def _start(self) -> str:
        self.emulator = kmock.KubernetesEmulator()
        for resource in ("v1/pods", "v1/events", "v1/namespaces", "networking.k8s.io/v1/networkpolicies"):
            self.emulator.resources[resource] = kmock.ResourceInfo()  # served (and listable) while empty
        await self.emulator.__aenter__()
        self._runner = aiohttp.web.ServerRunner(aiohttp.web.Server(self._handle, access_log=None))
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def _shutdown(self) -> None:
        await self._runner.cleanup()
        await self.emulator.__aexit__(None, None, None)

    def api_client(self) -> k8s.ApiClient:
        configuration = k8s.Configuration()
        configuration.host = self.url
        return k8s.ApiClient(configuration)

    @property
    def api(self) -> Any:  # a CoreV1Api; typed Any since its stubs do not admit the dict bodies it accepts
        """A fresh ``CoreV1Api`` for this cluster (the official client, over loopback HTTP)."""
        return k8s.CoreV1Api(self.api_client())

    def pods(self, namespace: str = "default") -> list[dict[str, Any]]:
        response = self.api.list_namespaced_pod(namespace, _preload_content=False)
        return list(json.loads(response.data).get("items") or [])

    # HTTP ---------------------------------------------------------------
    async def _handle(self, request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        match = _EXEC_PATH.match(request.path)
        if match and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._exec(request, match.group(1), match.group(2))
        return await self.emulator(request)

    async def _exec(
        self, request: aiohttp.web.BaseRequest, namespace: str, name: str
    ) -> aiohttp.web.StreamResponse:
        container = self.containers.get((namespace, name))
        if not container or self.docker is None:
            body = {
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound",
                "message": f'pods "{name}" not found or not running',
            }
            return aiohttp.web.json_response(body, status=404)
        command = request.query.getall("command")
        want_stdin = request.query.get("stdin") in ("true", "1")
        ws = aiohttp.web.WebSocketResponse(protocols=self.protocols)
        await ws.prepare(request)
        self.exec_count += 1
        api = self.docker.api
        exec_id = (await asyncio.to_thread(
            api.exec_create, container, command, stdin=want_stdin, stdout=True, stderr=True, tty=False
        ))["Id"]
        raw = await asyncio.to_thread(api.exec_start, exec_id, socket=True)
        sock = getattr(raw, "_sock", raw)
        sock.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=sock)

        async def output() -> None:
            while True:
                try:
                    header = await reader.readexactly(8)
                    stream, size = struct.unpack(">BxxxL", header)
                    payload = await reader.readexactly(size)
                except asyncio.IncompleteReadError:
                    return
                await ws.send_bytes(bytes([stream]) + payload)

        async def stdin() -> None:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.BINARY or not message.data:
                    continue
                channel, data = message.data[0], message.data[1:]
                if channel == 0:
                    writer.write(data)
                    await writer.drain()
                elif channel == 255 and ws.ws_protocol == V5 and data[:1] == b"\x00":
                    writer.write_eof()

        out_task = asyncio.ensure_future(output())
        in_task = asyncio.ensure_future(stdin())
        await asyncio.wait({out_task, in_task}, return_when=asyncio.FIRST_COMPLETED)
        if out_task.done():  # the process ended: report its status, then close
            code = await asyncio.to_thread(self._exit_code, exec_id)
            with contextlib.suppress(Exception):
                await ws.send_bytes(b"\x03" + _status(code, command))
                await ws.close()
            in_task.cancel()
        else:  # the client went away: like a kubelet, drop the stream and leave the process running
            out_task.cancel()
        writer.close()
        return ws

    def _exit_code(self, exec_id: str) -> int:
        """The exit code once Docker has it (the stream can end a moment before the process is reaped)."""

        def finished() -> dict[str, Any] | None:
            info = self.docker.api.exec_inspect(exec_id)
            return None if info.get("Running") else dict(info)

        return int(eventually(finished, "Docker recording the exec's exit", interval=0.01).get("ExitCode") or 0)

    # the kubelet --------------------------------------------------------
    def _sync_forever(self) -> None:
        api = self.api
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self._sync(api)
            self._stop.wait(0.05)

    def _sync(self, api: Any) -> None:
        response = api.list_pod_for_all_namespaces(_preload_content=False)
        pods = {(p["metadata"].get("namespace") or "default", p["metadata"]["name"]): p
                for p in json.loads(response.data).get("items") or []}
        for key in list(self.containers):
            if key not in pods:  # the container goes first: a pod no longer listed here has none left
                with contextlib.suppress(Exception):
                    self.docker.api.remove_container(self.containers[key], force=True)
                self.containers.pop(key)
        for key, pod in pods.items():
            if key not in self.containers and not (pod.get("status") or {}).get("phase"):
                self._start_pod(api, *key, pod)

    def _start_pod(self, api: Any, namespace: str, name: str, pod: dict[str, Any]) -> None:
        spec = pod["spec"]
        main = spec["containers"][0]
        image = main["image"]
        try:
            self.docker.images.get(image)
        except Exception:
            self.containers[(namespace, name)] = ""
            api.create_namespaced_event(namespace, {
                "metadata": {"name": f"{name}.{uuid.uuid4().hex[:8]}"},
                "involvedObject": {"kind": "Pod", "name": name, "namespace": namespace},
                "type": "Warning", "reason": "Failed",
                "message": f'Failed to pull image "{image}": not found',
            })
            waiting = {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}
            api.patch_namespaced_pod_status(name, namespace, {"status": {
                "phase": "Pending",
                "containerStatuses": [{"name": main["name"], "image": image, "ready": False, "imageID": "",
                                       "restartCount": 0, "state": {"waiting": waiting}}],
            }})
            return
        security = {**(spec.get("securityContext") or {}), **(main.get("securityContext") or {})}
        uid, gid = security.get("runAsUser"), security.get("runAsGroup")
        owner = security.get("fsGroup", gid if gid is not None else uid)
        tmpfs = {}
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for mount in main.get("volumeMounts") or []:
            # like the kubelet's emptyDirs: owned by root, group fsGroup, mode 2777 (set after start), exec allowed
            size = (volumes.get(mount["name"], {}).get("emptyDir") or {}).get("sizeLimit") or "1Gi"
            tmpfs[mount["mountPath"]] = f"size={_bytes(size)},uid=0,gid={owner or 0},exec"
        limits = (main.get("resources") or {}).get("limits") or {}
        role = (pod["metadata"].get("labels") or {}).get("llm-sandbox.role")
        no_new_privileges = security.get("allowPrivilegeEscalation") is False
        options: dict[str, Any] = {
            "user": None if uid is None else f"{uid}:{gid if gid is not None else uid}",
            "environment": {e["name"]: e.get("value", "") for e in main.get("env") or []},
            "working_dir": main.get("workingDir"),
            "read_only": bool(security.get("readOnlyRootFilesystem")),
            "cap_drop": (security.get("capabilities") or {}).get("drop"),
            "cap_add": (security.get("capabilities") or {}).get("add"),
            "security_opt": ["no-new-privileges"] if no_new_privileges else [],
            "tmpfs": tmpfs,
            "pids_limit": 256,
            "network_mode": "host" if role in self.egress_roles else "none",
            "labels": {self.label.split("=")[0]: self.label.split("=")[1], "pod": f"{namespace}/{name}"},
        }
        if "memory" in limits:
            options["mem_limit"] = _bytes(limits["memory"])
        if "cpu" in limits:
            cpu = limits["cpu"]
            options["nano_cpus"] = int(float(cpu[:-1]) * 1e6) if cpu.endswith("m") else int(float(cpu) * 1e9)
        command = (main.get("command") or []) + (main.get("args") or [])
        container = self.docker.containers.run(image, command or None, detach=True, **options)
        if tmpfs:  # Docker copies the image's directory mode onto a tmpfs; root owns it and may chmod
            container.exec_run(["chmod", "2777", *tmpfs], user="0")
        self.containers[(namespace, name)] = container.id
        api.patch_namespaced_pod_status(name, namespace, {"status": {
            "phase": "Running",
            "conditions": [{"type": t, "status": "True"} for t in
                           ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": [{"name": main["name"], "image": image, "ready": True, "started": True,
                                   "imageID": "", "restartCount": 0,
                                   "state": {"running": {"startedAt": _now()}}}],
        }})
