#!/usr/bin/env python3
"""What schema validation cannot see in k8s/app.yaml: that the pieces fit each other and the app.

    check_k8s.py REPO_ROOT

Prints one `ok`/`FAIL` line per check and `N passed, M failed`.
"""

import re
import sys
from pathlib import Path

import yaml

results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else f": {detail}"))


# Seconds a stream needs after its turn's deadline to send the final event and close.
TURN_MARGIN = 5


def setting(name, env, cm_data, code):
    """A whole-seconds setting: the container's env, else the ConfigMap, else the default the code
    declares next to the name: `"NAME", "N"` (a variable table), `"NAME", Some("N")` or
    `"NAME", Duration::from_secs(N)`. None if it cannot be found (the check then fails)."""
    for source in (env, cm_data):
        if source.get(name) is not None:
            return int(source[name])
    m = re.search(rf'"{name}",\s*(?:"(\d+)"|Some\("(\d+)"\)|Duration::from_secs\((\d+)\))', code)
    return int(next(g for g in m.groups() if g)) if m else None


def prestop_seconds(container):
    """How long the container's preStop hook sleeps (native `sleep` or `exec: sleep N`); 0 if none."""
    pre = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre:
        return int(pre["sleep"]["seconds"])
    cmd = pre.get("exec", {}).get("command", [])
    words = " ".join(str(w) for w in cmd).split()
    for i, w in enumerate(words):
        if w.rsplit("/", 1)[-1] == "sleep" and i + 1 < len(words) and words[i + 1].isdigit():
            return int(words[i + 1])
    return 0


def main(root):
    root = Path(root)
    docs = [d for d in yaml.safe_load_all((root / "k8s/app.yaml").read_text()) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    want = ["Namespace", "PersistentVolumeClaim", "ConfigMap", "Deployment", "Service", "Ingress"]
    check("app.yaml has a Namespace, PVC, ConfigMap, Deployment, Service and Ingress",
          all(len(by_kind.get(k, [])) == 1 for k in want), sorted(by_kind))
    check("app.yaml holds no Secret (k8s/update-secrets.sh owns it)", "Secret" not in by_kind)
    ns = by_kind["Namespace"][0]["metadata"]["name"]
    check("everything is in the elbatt namespace",
          ns == "elbatt" and all(d["metadata"].get("namespace") == ns for d in docs if d["kind"] != "Namespace"))

    dep = by_kind["Deployment"][0]
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    check("one replica with the Recreate strategy (one SQLite writer)",
          spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate")
    check("the selector matches the pod labels",
          all(dep["spec"]["template"]["metadata"]["labels"].get(k) == v
              for k, v in spec["selector"]["matchLabels"].items()))
    c = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    check("the container port is 8000 (the image's EXPOSE, the runner's port)", ports.get("http") == 8000)
    # Readiness asks the store (GET /ready, served by the conversations function); liveness must
    # not depend on it, or a database outage would restart every pod.
    list_txt = (root / "functions/list.txt").read_text()
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
        get = c.get(probe, {}).get("httpGet", {})
        port = ports.get(get.get("port"), get.get("port"))
        check(f"{probe} is GET {path} on port 8000", get.get("path") == path and port == 8000)
        check(f"{path} is mounted by a function in functions/list.txt",
              re.search(rf"^\S+\s+\S+\s+.*\s{re.escape(path)}(=whole)?(\s|$)", list_txt, re.M) is not None)
    res = c.get("resources", {})
    check("resources have requests and limits for cpu and memory",
          all(k in res.get(s, {}) for s in ("requests", "limits") for k in ("cpu", "memory")))
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    dockerfile = (root / "Dockerfile").read_text()
    user = re.findall(r"^USER (\d+)", dockerfile, re.M)
    check("runs as non-root uid 10001, the Dockerfile's USER",
          psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 10001 and user[-1:] == ["10001"])
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    pvc = by_kind["PersistentVolumeClaim"][0]["metadata"]["name"]
    check("read-only root filesystem, no privilege escalation, all capabilities dropped",
          csc.get("readOnlyRootFilesystem") is True and csc.get("allowPrivilegeEscalation") is False
          and csc.get("capabilities", {}).get("drop") == ["ALL"])
    check("/data is the PVC and /tmp an emptyDir (the only writable paths)",
          vols.get(mounts.get("/data"), {}).get("persistentVolumeClaim", {}).get("claimName") == pvc
          and "emptyDir" in vols.get(mounts.get("/tmp"), {}))
    env_from = c.get("envFrom", [])
    cm_name = by_kind["ConfigMap"][0]["metadata"]["name"]
    secret_refs = [e["secretRef"] for e in env_from if "secretRef" in e]
    script = (root / "k8s/update-secrets.sh").read_text()
    check("env comes from the ConfigMap and the optional Secret update-secrets.sh writes",
          any(e.get("configMapRef", {}).get("name") == cm_name for e in env_from)
          and secret_refs and secret_refs[0].get("optional") is True
          and f'SECRET_NAME:-{secret_refs[0]["name"]}' in script)

    # Every setting must be a variable the code reads: a typo here is silently ignored.
    code = "".join(p.read_text() for p in (root / "shared/src").rglob("*.rs"))
    code += "".join(p.read_text() for p in (root / "functions").rglob("*.rs"))
    unknown = [k for k in by_kind["ConfigMap"][0]["data"] if f'"{k}"' not in code]
    check("every ConfigMap key is a variable the code reads", not unknown, f"unknown: {unknown}")
    env_file = [line.split("=", 1)[0] for line in (root / "deploy/scaleway.env").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    unknown = [k for k in env_file if f'"{k}"' not in code]
    check("every key in deploy/scaleway.env (the Scaleway twin of the ConfigMap) is read by the code",
          env_file and not unknown, f"unknown: {unknown}")
    # Shutdown: the kubelet sends SIGTERM after any preStop hook and SIGKILL
    # terminationGracePeriodSeconds after the pod started terminating (preStop included); the app
    # waits SHUTDOWN_GRACE_SECS for in-flight requests, and a chat turn may last
    # CHAT_TURN_TIMEOUT_SECS. Each must fit in the next, or a rollout cuts streams short.
    cm_data = by_kind["ConfigMap"][0]["data"]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    grace = setting("SHUTDOWN_GRACE_SECS", env, cm_data, code)
    turn = setting("CHAT_TURN_TIMEOUT_SECS", env, cm_data, code)
    term = pod.get("terminationGracePeriodSeconds", 30)
    pre = prestop_seconds(c)
    check("SHUTDOWN_GRACE_SECS and CHAT_TURN_TIMEOUT_SECS are known (manifest, else the code's default)",
          grace is not None and turn is not None, f"grace={grace} turn={turn}")
    if grace is not None and turn is not None:
        check(f"SHUTDOWN_GRACE_SECS ({grace} s) covers a whole chat turn (CHAT_TURN_TIMEOUT_SECS {turn} s) "
              f"plus {TURN_MARGIN} s", grace >= turn + TURN_MARGIN)
        check(f"terminationGracePeriodSeconds ({term} s) is longer than the preStop hook ({pre} s) plus "
              f"SHUTDOWN_GRACE_SECS ({grace} s)", term > pre + grace)

    svc = by_kind["Service"][0]
    sp = svc["spec"]["ports"][0]
    target = ports.get(sp["targetPort"], sp["targetPort"])
    check("the Service maps 80 to 8000 and selects the pods",
          sp["port"] == 80 and target == 8000
          and svc["spec"]["selector"] == spec["selector"]["matchLabels"])
    ing = by_kind["Ingress"][0]
    ann = ing["metadata"].get("annotations", {})
    check("the Ingress uses class nginx and cert-manager's letsencrypt-prod ClusterIssuer",
          ing["spec"].get("ingressClassName") == "nginx"
          and ann.get("cert-manager.io/cluster-issuer") == "letsencrypt-prod")
    check("the Ingress has 600 s proxy timeouts for streams and WebSockets",
          ann.get("nginx.ingress.kubernetes.io/proxy-read-timeout") == "600"
          and ann.get("nginx.ingress.kubernetes.io/proxy-send-timeout") == "600")
    rule = ing["spec"]["rules"][0]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    check("the Ingress serves chatbot.elbatt.no with TLS, to the Service",
          rule["host"] == "chatbot.elbatt.no" and ing["spec"]["tls"][0]["hosts"] == ["chatbot.elbatt.no"]
          and backend["name"] == svc["metadata"]["name"]
          and backend["port"].get("name", backend["port"].get("number")) in (sp["name"], sp["port"]))

    wipe = yaml.safe_load((root / "k8s/wipe-data.yaml").read_text())
    claim = wipe["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    check("wipe-data.yaml mounts the same claim as the Deployment", claim == pvc)

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
