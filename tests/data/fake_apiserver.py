#!/usr/bin/env python3
"""An emulated kube-apiserver on 127.0.0.1, for the real kubectl client.

No cluster can be reached here; kubectl itself is real, only the server's
replies are emulated, built from the API server's and kubelet's format
strings (see fixtures/messages/kubectl-*). Usage:

    fake_apiserver.py PHASE KUBELET_TEXT

Prints its port on the first line of stdout, then serves until killed:
- discovery (/api, /api/v1, /apis) and GET of any pod in `default`, whose
  spec has one container `app` and whose status.phase is PHASE;
- exec into a container other than `app`: 400 BadRequest "container X is not
  valid for pod Y" (pkg/registry/core/pod/strategy.go streamLocation), for
  the WebSocket GET and the SPDY POST alike, before any upgrade;
- exec into `app`: the kubelet refuses with KUBELET_TEXT (its plain-text
  500, e.g. `container not found ("app")`). Over SPDY (the API server proxies
  the upgrade) kubectl gets that 500 itself; over WebSocket (kubectl >= 1.30)
  the API server's stream translator upgrades to v5.channel.k8s.io, its own
  SPDY client fails with "unable to upgrade connection: <text>", and it sends
  that on the error channel as apierrors.NewInternalError: "Internal error
  occurred: unable to upgrade connection: <text>".
"""
import base64
import hashlib
import json
import socket
import sys
import threading

PHASE, KUBELET_TEXT = sys.argv[1], sys.argv[2]
REFUSAL = "unable to upgrade connection: " + KUBELET_TEXT
RESOURCES = [
    {"name": "pods", "namespaced": True, "kind": "Pod", "verbs": ["get", "list"]},
    {"name": "pods/exec", "namespaced": True, "kind": "PodExecOptions", "verbs": ["create", "get"]},
]


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def reply(conn, code, body, ctype="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                 % (code, ctype.encode(), len(data)) + data)


def frame(opcode, payload):
    n = len(payload)
    size = bytes([n]) if n < 126 else bytes([126]) + n.to_bytes(2, "big")
    return bytes([0x80 | opcode]) + size + payload


def websocket_refusal(conn, headers):
    accept = base64.b64encode(hashlib.sha1(
        (headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n")
    body = status(500, "InternalError", "Internal error occurred: " + REFUSAL)
    body["details"] = {"causes": [{"message": REFUSAL}]}
    conn.sendall(frame(2, b"\x03" + json.dumps(body).encode()))
    conn.sendall(frame(8, b"\x03\xe8"))


def answer(conn, method, path, headers):
    route, _, query = path.partition("?")
    params = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
    if route == "/api":
        reply(conn, 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
    elif route == "/api/v1":
        reply(conn, 200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": RESOURCES})
    elif route == "/apis":
        reply(conn, 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
    elif route.startswith("/api/v1/namespaces/default/pods/") and route.endswith("/exec"):
        pod = route.split("/")[-2]
        container = params.get("container", "")
        if container != "app":
            reply(conn, 400, status(400, "BadRequest", f"container {container} is not valid for pod {pod}"))
        elif headers.get("upgrade", "").lower() == "websocket":
            websocket_refusal(conn, headers)
            return False
        else:
            reply(conn, 500, KUBELET_TEXT.encode(), "text/plain")
    elif route.startswith("/api/v1/namespaces/default/pods/") and route.count("/") == 6:
        name = route.rsplit("/", 1)[1]
        reply(conn, 200, {"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": name, "namespace": "default", "uid": "1"},
                          "spec": {"containers": [{"name": "app", "image": "x"}], "nodeName": "n1"},
                          "status": {"phase": PHASE}})
    else:
        reply(conn, 404, status(404, "NotFound", "the server could not find the requested resource"))
    return True


def serve(conn):
    with conn, conn.makefile("rb") as f:
        while True:
            line = f.readline().decode()
            if not line.strip():
                return
            method, path, _ = line.split(" ", 2)
            headers = {}
            while (h := f.readline().decode()).strip():
                k, v = h.split(":", 1)
                headers[k.strip().lower()] = v.strip()
            f.read(int(headers.get("content-length", "0")))
            if not answer(conn, method, path, headers):
                return


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)
while True:
    c, _ = listener.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
