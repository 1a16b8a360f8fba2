#!/usr/bin/python3
"""Check a `kubectl kustomize` rendering of a sealpod overlay.

    check_rendered.py --rendered OVERLAY.yaml [--base BASE.yaml]

Every rule the manifests promise (docs/deployment.md) is checked on the
rendered objects, not on the source files, so the check sees what the API
server would see. Each problem is printed as `FAIL <rule>: <what>`; the
exit status is 1 when there is any, 0 otherwise. With --base (the
rendering of the overlay's base), the model server containers are also
compared with the user's originals.

Runs under Debian's /usr/bin/python3 with python3-yaml.
"""

import argparse
import sys

import yaml

SEALPOD_INIT = "sealpod-init"
SEALPOD_SIDECAR = "sealpod-sidecar"
SEALPOD_NAMES = (SEALPOD_INIT, SEALPOD_SIDECAR)
INIT_IMAGE = "ghcr.io/sealpod/sealpod-init"
SIDECAR_IMAGE = "ghcr.io/sealpod/sealpod-sidecar"
INIT_ARGS = ["run", "--config", "/etc/sealpod/init.yaml"]
CONFIG_DIR = "/etc/sealpod"
MODELS_VOLUME = "sealpod-models"
TLS_VOLUME = "sealpod-tls"
CONFIG_VOLUME = "sealpod-config"
MODELS_PATH = "/models"
HTTPS_PORT = 8443
HEALTH_PORT = 8081
READY_NAME = ".sealpod-ready"
ALLOWED_CAPS = {"IPC_LOCK"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

# Dotted keys the binaries accept (init/config.h, docs/sidecar.md). A
# trailing ".*" accepts any key below that prefix.
# Test hooks (gpu_library, platform_root) are left out on purpose: a
# manifest that names one is reported.
INIT_KEYS = {
    "tee", "kbs.url", "kbs.ca", "kbs.timeout_s", "kbs.insecure_http",
    "key", "artifacts.source", "artifacts.ca", "artifacts.min_version",
    "artifacts.model_id", "artifacts.oci.auth_file",
    "artifacts.signing_key", "artifacts.workers", "artifacts.memory_mib",
    "artifacts.idle_timeout_s", "artifacts.deadline_s",
    "artifacts.attempts", "artifacts.insecure_http",
    "artifacts.headers_file", "target", "tls.cert", "tls.key", "tls.dir",
    "tpm.tcti", "tpm.qualifying_bytes", "log.level", "init_data", "gpu",
    "azure.imds_url", "attest_timeout_s",
}
INIT_REQUIRED = {"tee", "kbs.url", "key", "artifacts.source", "target"}
INIT_TLS = {"tls.cert", "tls.key", "tls.dir"}
SIDECAR_KEYS = {
    "listen", "backend", "backend_protocol", "tls.cert", "tls.key",
    "tls.client_ca", "tls.client_auth", "tls.allow", "tls.watch_s",
    "routes", "health.listen", "ready_file", "workers", "busy_poll_us",
    "coalesce_us", "user", "log.level", "limits.*", "timeouts.*",
    "http2.*",
}


class Report:
    """Collects failures by rule."""

    def __init__(self):
        self.failures = []

    def fail(self, rule, what):
        self.failures.append((rule, what))

    def check(self, cond, rule, what):
        if not cond:
            self.fail(rule, what)
        return cond


def walk(node, path=""):
    """Yield (path, key, value) for every mapping entry below node."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k, v
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def strings(node):
    """Yield every string value below node."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def name_of(doc):
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind')}/{meta.get('name')}"


def flatten(cfg, prefix=""):
    """Dotted keys of a nested mapping, as the config loader sees them."""
    out = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def key_known(key, table):
    if key in table:
        return True
    return any(t.endswith(".*") and key.startswith(t[:-1]) for t in table)


def listen_port(value):
    """Port of "host:port" or "[v6]:port"; None when malformed."""
    if not isinstance(value, str) or ":" not in value:
        return None
    port = value.rsplit(":", 1)[1]
    return int(port) if port.isdigit() else None


def listen_host(value):
    return value.rsplit(":", 1)[0] if isinstance(value, str) else None


def pod_spec(dep):
    return ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}


def pod_labels(dep):
    tmpl = (dep.get("spec") or {}).get("template") or {}
    return (tmpl.get("metadata") or {}).get("labels") or {}


def find(containers, name):
    for i, c in enumerate(containers):
        if c.get("name") == name:
            return i, c
    return None, None


def mounts_by_path(container):
    return {m.get("mountPath"): m for m in container.get("volumeMounts") or []}


def mounts_of(container, volume):
    return [m for m in container.get("volumeMounts") or []
            if m.get("name") == volume]


def selector_matches(match_labels, labels):
    return all(labels.get(k) == v for k, v in (match_labels or {}).items())


# --- rules over the whole rendering ---------------------------------------

def check_no_hostpath(docs, r):
    """R-C5, R-L3: nothing of the pod lives on the node's filesystem."""
    for doc in docs:
        for path, key, _ in walk(doc):
            if key == "hostPath":
                r.fail("no-hostpath", f"{name_of(doc)}: hostPath at {path}")


def check_no_secrets(docs, r):
    """R-C5: no key material in Kubernetes Secrets or ConfigMaps."""
    for doc in docs:
        if doc.get("kind") == "Secret":
            r.fail("no-secrets", f"{name_of(doc)}: Secret object")
        for path, key, val in walk(doc):
            if key in ("secretKeyRef", "secretRef"):
                r.fail("no-secrets", f"{name_of(doc)}: {key} at {path}")
            if key == "secret" and isinstance(val, dict):
                r.fail("no-secrets",
                       f"{name_of(doc)}: secret volume at {path}")
        for s in strings(doc):
            if "-----BEGIN" in s and "PRIVATE KEY" in s:
                r.fail("no-secrets", f"{name_of(doc)}: PEM private key")


# --- rules over one Deployment ---------------------------------------------

def check_init(spec, r, where):
    inits = spec.get("initContainers") or []
    i, init = find(inits, SEALPOD_INIT)
    j, _ = find(inits, SEALPOD_SIDECAR)
    if not r.check(init is not None, "init-container",
                   f"{where}: no {SEALPOD_INIT} init container"):
        return
    image = init.get("image") or ""
    r.check(image.startswith(INIT_IMAGE + ":") or
            image.startswith(INIT_IMAGE + "@"), "init-container",
            f"{where}: {SEALPOD_INIT} image {image!r}")
    r.check(init.get("args") == INIT_ARGS, "init-container",
            f"{where}: {SEALPOD_INIT} args {init.get('args')!r}")
    r.check(init.get("restartPolicy") is None, "init-container",
            f"{where}: {SEALPOD_INIT} must run to completion")
    # The sidecar starts after unsealing, with its certificate in place.
    r.check(j is None or i < j, "init-container",
            f"{where}: {SEALPOD_INIT} must come before {SEALPOD_SIDECAR}")
    _, main = find(spec.get("containers") or [], SEALPOD_INIT)
    r.check(main is None, "init-container",
            f"{where}: {SEALPOD_INIT} among the main containers")


def probe_port(probe, container):
    port = ((probe or {}).get("httpGet") or {}).get("port")
    if isinstance(port, str):
        for p in container.get("ports") or []:
            if p.get("name") == port:
                return p.get("containerPort")
        return None
    return port


def check_probes(side, r, where):
    expect = {"startupProbe": "/healthz", "livenessProbe": "/healthz",
              "readinessProbe": "/readyz"}
    for kind, path in expect.items():
        probe = side.get(kind)
        if not r.check(isinstance(probe, dict), "sidecar-probes",
                       f"{where}: sidecar has no {kind}"):
            continue
        # No exec path into the guest (R-N4).
        r.check("exec" not in probe and "httpGet" in probe,
                "sidecar-probes", f"{where}: {kind} is not an httpGet")
        got = (probe.get("httpGet") or {}).get("path")
        r.check(got == path, "sidecar-probes",
                f"{where}: {kind} path {got!r}, want {path}")
        port = probe_port(probe, side)
        r.check(port == HEALTH_PORT, "sidecar-probes",
                f"{where}: {kind} on port {port!r}, want {HEALTH_PORT}")
        r.check(((probe.get("httpGet") or {}).get("scheme") or "HTTP")
                == "HTTP", "sidecar-probes",
                f"{where}: {kind} must use the plain health port")


def check_sidecar(spec, r, where):
    side_i, side = find(spec.get("initContainers") or [], SEALPOD_SIDECAR)
    _, main = find(spec.get("containers") or [], SEALPOD_SIDECAR)
    r.check(main is None, "sidecar",
            f"{where}: {SEALPOD_SIDECAR} must be a native sidecar "
            "(an init container), not a main container")
    if not r.check(side is not None, "sidecar",
                   f"{where}: no {SEALPOD_SIDECAR} init container"):
        return
    image = side.get("image") or ""
    r.check(image.startswith(SIDECAR_IMAGE + ":") or
            image.startswith(SIDECAR_IMAGE + "@"), "sidecar",
            f"{where}: {SEALPOD_SIDECAR} image {image!r}")
    r.check(side.get("restartPolicy") == "Always", "sidecar",
            f"{where}: {SEALPOD_SIDECAR} restartPolicy "
            f"{side.get('restartPolicy')!r}, want Always")
    ports = {p.get("name"): p.get("containerPort")
             for p in side.get("ports") or []}
    r.check(ports.get("https") == HTTPS_PORT, "sidecar",
            f"{where}: sidecar port https is {ports.get('https')!r}")
    check_probes(side, r, where)


def effective(container, pod_ctx, key):
    ctx = container.get("securityContext") or {}
    if key in ctx:
        return ctx[key]
    return pod_ctx.get(key)


def check_security(spec, r, where):
    pod_ctx = spec.get("securityContext") or {}
    for c in spec.get("initContainers") or []:
        if c.get("name") not in SEALPOD_NAMES:
            continue
        ctx = c.get("securityContext") or {}
        who = f"{where}: {c.get('name')}"
        r.check(effective(c, pod_ctx, "runAsNonRoot") is True,
                "security-context", f"{who}: runAsNonRoot not true")
        r.check(effective(c, pod_ctx, "runAsUser") != 0,
                "security-context", f"{who}: runAsUser 0")
        r.check(ctx.get("readOnlyRootFilesystem") is True,
                "security-context", f"{who}: root filesystem writable")
        r.check(ctx.get("allowPrivilegeEscalation") is False,
                "security-context", f"{who}: privilege escalation allowed")
        r.check(ctx.get("privileged") is not True, "security-context",
                f"{who}: privileged")
        caps = ctx.get("capabilities") or {}
        r.check("ALL" in (caps.get("drop") or []), "security-context",
                f"{who}: capabilities not dropped (drop: [ALL])")
        extra = set(caps.get("add") or []) - ALLOWED_CAPS
        r.check(not extra, "security-context",
                f"{who}: capabilities added {sorted(extra)}")
        seccomp = effective(c, pod_ctx, "seccompProfile") or {}
        r.check(seccomp.get("type") == "RuntimeDefault", "security-context",
                f"{who}: seccompProfile {seccomp.get('type')!r}")


def check_pod(spec, r, where):
    rc = spec.get("runtimeClassName")
    r.check(isinstance(rc, str) and rc and rc != "runc", "pod-spec",
            f"{where}: runtimeClassName {rc!r} (R-C1)")
    r.check(spec.get("automountServiceAccountToken") is False, "pod-spec",
            f"{where}: automountServiceAccountToken not false")
    r.check(spec.get("enableServiceLinks") is False, "pod-spec",
            f"{where}: enableServiceLinks not false")
    for key in ("shareProcessNamespace", "hostNetwork", "hostPID",
                "hostIPC"):
        r.check(spec.get(key) is not True, "pod-spec",
                f"{where}: {key} is true")
    for c in (spec.get("containers") or []) + \
            (spec.get("initContainers") or []):
        ctx = c.get("securityContext") or {}
        r.check(ctx.get("privileged") is not True, "pod-spec",
                f"{where}: container {c.get('name')} is privileged")
        # A patch naming a container that does not exist adds one.
        r.check(bool(c.get("image")), "pod-spec",
                f"{where}: container {c.get('name')} has no image (a "
                "patch with a mistyped container name?)")


def check_volumes(spec, r, where):
    vols = {v.get("name"): v for v in spec.get("volumes") or []}
    for name in (MODELS_VOLUME, TLS_VOLUME):
        vol = vols.get(name)
        if not r.check(vol is not None, "memory-volumes",
                       f"{where}: no volume {name}"):
            continue
        ed = vol.get("emptyDir")
        r.check(isinstance(ed, dict) and ed.get("medium") == "Memory",
                "memory-volumes", f"{where}: {name} is not a "
                "memory-backed emptyDir")
        r.check(isinstance(ed, dict) and bool(ed.get("sizeLimit")),
                "memory-volumes", f"{where}: {name} has no sizeLimit")
    # Whatever the sealpod containers mount is memory or configuration.
    for c in spec.get("initContainers") or []:
        if c.get("name") not in SEALPOD_NAMES:
            continue
        for m in c.get("volumeMounts") or []:
            vol = vols.get(m.get("name")) or {}
            ok = "configMap" in vol or \
                (vol.get("emptyDir") or {}).get("medium") == "Memory"
            r.check(ok, "memory-volumes",
                    f"{where}: {c.get('name')} mounts {m.get('name')!r}, "
                    "which is neither memory nor a ConfigMap")


def check_sealpod_mounts(spec, r, where):
    inits = spec.get("initContainers") or []
    want = {
        SEALPOD_INIT: {MODELS_VOLUME: False, TLS_VOLUME: False,
                       CONFIG_VOLUME: True},
        SEALPOD_SIDECAR: {MODELS_VOLUME: True, TLS_VOLUME: True,
                          CONFIG_VOLUME: True},
    }
    for name, vols in want.items():
        _, c = find(inits, name)
        if c is None:
            continue
        for vol, readonly in vols.items():
            ms = mounts_of(c, vol)
            if not r.check(len(ms) == 1, "sealpod-mounts",
                           f"{where}: {name} mounts {vol} {len(ms)} times"):
                continue
            r.check(bool(ms[0].get("readOnly")) == readonly,
                    "sealpod-mounts", f"{where}: {name} mounts {vol} "
                    f"{'read-write' if readonly else 'read-only'}")
        cfg = mounts_of(c, CONFIG_VOLUME)
        r.check(bool(cfg) and cfg[0].get("mountPath") == CONFIG_DIR,
                "sealpod-mounts", f"{where}: {name} config not at "
                f"{CONFIG_DIR}")


def check_model_servers(spec, r, where):
    apps = spec.get("containers") or []
    readers = 0
    for c in apps:
        who = f"{where}: container {c.get('name')}"
        for m in c.get("volumeMounts") or []:
            path = (m.get("mountPath") or "").rstrip("/")
            r.check(m.get("name") != TLS_VOLUME and path != "/tls" and
                    not path.startswith("/tls/"), "model-server-mounts",
                    f"{who} mounts the TLS material ({m.get('name')} at "
                    f"{m.get('mountPath')})")
        for m in mounts_of(c, MODELS_VOLUME):
            r.check(m.get("readOnly") is True, "model-server-mounts",
                    f"{who} mounts {MODELS_VOLUME} writable")
            if m.get("mountPath") == MODELS_PATH and m.get("readOnly"):
                readers += 1
    r.check(readers >= 1, "model-server-mounts",
            f"{where}: no model server mounts {MODELS_VOLUME} read-only at "
            f"{MODELS_PATH}")


def strip_mounts(container):
    return {k: v for k, v in container.items() if k != "volumeMounts"}


def check_unchanged(dep, base_docs, r, where):
    """The user's containers keep image, command, args, env, ports...;
    only the mount at /models may change."""
    meta = dep.get("metadata") or {}
    base = None
    for b in base_docs:
        bmeta = b.get("metadata") or {}
        if b.get("kind") == "Deployment" and \
                bmeta.get("name") == meta.get("name"):
            base = b
    if not r.check(base is not None, "model-server-unchanged",
                   f"{where}: not in the base rendering"):
        return
    now = pod_spec(dep).get("containers") or []
    for bc in pod_spec(base).get("containers") or []:
        _, c = find(now, bc.get("name"))
        who = f"{where}: container {bc.get('name')}"
        if not r.check(c is not None, "model-server-unchanged",
                       f"{who} is gone"):
            continue
        r.check(strip_mounts(c) == strip_mounts(bc),
                "model-server-unchanged", f"{who} differs from the base "
                "beyond its /models mount")
        keep = mounts_by_path(c)
        for path, m in mounts_by_path(bc).items():
            if path == MODELS_PATH:
                continue
            r.check(keep.get(path) == m, "model-server-unchanged",
                    f"{who}: mount {path} changed")
    names = {c.get("name") for c in now}
    extra = names - {c.get("name")
                     for c in pod_spec(base).get("containers") or []}
    r.check(not extra, "model-server-unchanged",
            f"{where}: main containers added {sorted(extra)}")


# --- configuration ----------------------------------------------------------

def config_map_for(spec, docs):
    vols = {v.get("name"): v for v in spec.get("volumes") or []}
    ref = ((vols.get(CONFIG_VOLUME) or {}).get("configMap") or {}).get("name")
    for d in docs:
        if d.get("kind") == "ConfigMap" and \
                (d.get("metadata") or {}).get("name") == ref:
            return ref, d
    return ref, None


def parse_config(cm, key, r, where):
    text = (cm.get("data") or {}).get(key)
    if not r.check(isinstance(text, str), "config",
                   f"{where}: ConfigMap has no {key}"):
        return None
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as e:
        r.fail("config", f"{where}: {key} is not YAML: {e}")
        return None
    if not r.check(isinstance(cfg, dict), "config",
                   f"{where}: {key} is not a mapping"):
        return None
    return flatten(cfg)


def check_init_config(cfg, init, r, where):
    for k in sorted(cfg):
        r.check(key_known(k, INIT_KEYS), "config",
                f"{where}: init.yaml: unknown key {k}")
    for k in sorted(INIT_REQUIRED - set(cfg)):
        r.fail("config", f"{where}: init.yaml: missing {k}")
    tls = INIT_TLS & set(cfg)
    r.check(not tls or tls == INIT_TLS, "config",
            f"{where}: init.yaml: tls.cert, tls.key, tls.dir: all or none")
    paths = {m.get("name"): m.get("mountPath")
             for m in init.get("volumeMounts") or []}
    r.check(cfg.get("target") == paths.get(MODELS_VOLUME), "config",
            f"{where}: init.yaml target {cfg.get('target')!r} is not "
            f"where {SEALPOD_INIT} mounts {MODELS_VOLUME}")
    if "tls.dir" in cfg:
        r.check(cfg["tls.dir"] == paths.get(TLS_VOLUME), "config",
                f"{where}: init.yaml tls.dir {cfg['tls.dir']!r} is not "
                f"where {SEALPOD_INIT} mounts {TLS_VOLUME}")


def check_sidecar_config(scfg, icfg, side, apps, r, where):
    for k in sorted(scfg):
        r.check(key_known(k, SIDECAR_KEYS), "config",
                f"{where}: sidecar.yaml: unknown key {k}")
    # The init container's target as the sidecar sees it.
    init_target = icfg.get("target")
    side_paths = {m.get("name"): m.get("mountPath")
                  for m in side.get("volumeMounts") or []}
    r.check(side_paths.get(MODELS_VOLUME) == init_target, "config",
            f"{where}: the sidecar mounts {MODELS_VOLUME} elsewhere than "
            "the init target")
    r.check(scfg.get("ready_file") == f"{init_target}/{READY_NAME}",
            "config", f"{where}: sidecar ready_file "
            f"{scfg.get('ready_file')!r}, want {init_target}/{READY_NAME}")
    tls_dir = icfg.get("tls.dir")
    if tls_dir:
        for k, f in (("tls.cert", "tls.crt"), ("tls.key", "tls.key")):
            r.check(scfg.get(k) == f"{tls_dir}/{f}", "config",
                    f"{where}: sidecar {k} {scfg.get(k)!r}, want "
                    f"{tls_dir}/{f}")
    r.check(listen_port(scfg.get("listen")) == HTTPS_PORT, "config",
            f"{where}: sidecar listen {scfg.get('listen')!r}")
    r.check(listen_port(scfg.get("health.listen")) == HEALTH_PORT, "config",
            f"{where}: sidecar health.listen {scfg.get('health.listen')!r}")
    backend = scfg.get("backend")
    r.check(listen_host(backend) in LOOPBACK_HOSTS, "config",
            f"{where}: sidecar backend {backend!r} is not on loopback")
    declared = {p.get("containerPort") for c in apps
                for p in c.get("ports") or []}
    if declared:
        r.check(listen_port(backend) in declared, "config",
                f"{where}: sidecar backend port {listen_port(backend)!r} "
                f"is none of the model server's ports {sorted(declared)}")


def check_config(spec, docs, r, where):
    ref, cm = config_map_for(spec, docs)
    if not r.check(cm is not None, "config",
                   f"{where}: ConfigMap {ref!r} of volume {CONFIG_VOLUME} "
                   "not rendered"):
        return
    inits = spec.get("initContainers") or []
    _, init = find(inits, SEALPOD_INIT)
    _, side = find(inits, SEALPOD_SIDECAR)
    icfg = parse_config(cm, "init.yaml", r, where)
    scfg = parse_config(cm, "sidecar.yaml", r, where)
    if icfg is None or scfg is None or init is None or side is None:
        return
    check_init_config(icfg, init, r, where)
    check_sidecar_config(scfg, icfg, side, spec.get("containers") or [], r,
                         where)


# --- network ------------------------------------------------------------------

def port_ok(port, allowed):
    proto = port.get("protocol", "TCP")
    return (proto, port.get("port")) in allowed


DNS_PORTS = {("UDP", 53), ("TCP", 53)}
HTTPS_OUT = {("TCP", 443)}


def is_dns_peer(peer):
    ns = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
    pod = (peer.get("podSelector") or {}).get("matchLabels") or {}
    return ns.get("kubernetes.io/metadata.name") == "kube-system" and \
        pod.get("k8s-app") == "kube-dns"


def check_ingress(np, r, who):
    rules = (np.get("spec") or {}).get("ingress") or []
    r.check(bool(rules), "networkpolicy", f"{who}: no ingress rule")
    for i, rule in enumerate(rules):
        r.check(bool(rule.get("from")), "networkpolicy",
                f"{who}: ingress[{i}] admits every source")
        ports = rule.get("ports") or []
        r.check(bool(ports), "networkpolicy",
                f"{who}: ingress[{i}] admits every port")
        for p in ports:
            r.check(port_ok(p, {("TCP", HTTPS_PORT), ("TCP", "https")}),
                    "networkpolicy", f"{who}: ingress[{i}] opens {p!r}")


def check_egress(np, r, who):
    rules = (np.get("spec") or {}).get("egress") or []
    https = 0
    for i, rule in enumerate(rules):
        peers = rule.get("to") or []
        ports = rule.get("ports") or []
        r.check(bool(peers), "networkpolicy",
                f"{who}: egress[{i}] allows every destination")
        r.check(bool(ports), "networkpolicy",
                f"{who}: egress[{i}] allows every port")
        for p in ports:
            ok = port_ok(p, DNS_PORTS | HTTPS_OUT)
            r.check(ok, "networkpolicy", f"{who}: egress[{i}] opens {p!r}")
            if port_ok(p, DNS_PORTS):
                r.check(all(is_dns_peer(x) for x in peers), "networkpolicy",
                        f"{who}: egress[{i}] DNS to a non-DNS peer")
            if port_ok(p, HTTPS_OUT) and peers:
                https += 1
        for x in peers:
            cidr = (x.get("ipBlock") or {}).get("cidr")
            r.check(cidr not in ("0.0.0.0/0", "::/0"), "networkpolicy",
                    f"{who}: egress[{i}] to {cidr}")
    r.check(https > 0, "networkpolicy",
            f"{who}: no egress to the KBS/artifact store on 443")


def check_networkpolicy(dep, docs, r, where):
    labels = pod_labels(dep)
    nps = [d for d in docs if d.get("kind") == "NetworkPolicy" and
           selector_matches(((d.get("spec") or {}).get("podSelector") or {})
                            .get("matchLabels"), labels) and
           not ((d.get("spec") or {}).get("podSelector") or {})
           .get("matchExpressions")]
    if not r.check(bool(nps), "networkpolicy",
                   f"{where}: no NetworkPolicy selects its pods"):
        return
    for np in nps:
        who = f"{where}: {name_of(np)}"
        types = (np.get("spec") or {}).get("policyTypes") or []
        r.check("Ingress" in types and "Egress" in types, "networkpolicy",
                f"{who}: policyTypes {types!r}")
        check_ingress(np, r, who)
        check_egress(np, r, who)


def check_services(dep, docs, r, where):
    labels = pod_labels(dep)
    for svc in docs:
        if svc.get("kind") != "Service":
            continue
        sel = (svc.get("spec") or {}).get("selector")
        if not sel or not selector_matches(sel, labels):
            continue
        for p in (svc.get("spec") or {}).get("ports") or []:
            r.check(p.get("targetPort") in ("https", HTTPS_PORT), "service",
                    f"{where}: {name_of(svc)} port {p.get('port')} "
                    f"targets {p.get('targetPort')!r}, not the sidecar")


# --- driver -------------------------------------------------------------------

def sealed(dep):
    spec = pod_spec(dep)
    names = {c.get("name") for c in (spec.get("initContainers") or []) +
             (spec.get("containers") or [])}
    return bool(names & set(SEALPOD_NAMES))


def check(docs, base_docs):
    r = Report()
    check_no_hostpath(docs, r)
    check_no_secrets(docs, r)
    deps = [d for d in docs if d.get("kind") == "Deployment" and sealed(d)]
    r.check(bool(deps), "sealed-deployment",
            "no Deployment carries the sealpod containers")
    for dep in deps:
        where = name_of(dep)
        spec = pod_spec(dep)
        check_init(spec, r, where)
        check_sidecar(spec, r, where)
        check_security(spec, r, where)
        check_pod(spec, r, where)
        check_volumes(spec, r, where)
        check_sealpod_mounts(spec, r, where)
        check_model_servers(spec, r, where)
        check_config(spec, docs, r, where)
        check_networkpolicy(dep, docs, r, where)
        check_services(dep, docs, r, where)
        if base_docs is not None:
            check_unchanged(dep, base_docs, r, where)
    return r, len(deps)


def load(path):
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    if not all(isinstance(d, dict) for d in docs):
        raise ValueError(f"{path}: a document is not a mapping")
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rendered", required=True)
    ap.add_argument("--base")
    args = ap.parse_args()
    try:
        docs = load(args.rendered)
        base = load(args.base) if args.base else None
    except (OSError, ValueError, yaml.YAMLError) as e:
        print(f"FAIL parse: {e}")
        return 1
    if not docs:
        print(f"FAIL parse: {args.rendered}: no objects")
        return 1
    r, n = check(docs, base)
    for rule, what in r.failures:
        print(f"FAIL {rule}: {what}")
    if r.failures:
        return 1
    print(f"ok: {len(docs)} objects, {n} sealed Deployment(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
