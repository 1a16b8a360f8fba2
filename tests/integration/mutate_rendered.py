#!/usr/bin/python3
"""Break a good sealpod rendering in one known way, for negative tests.

    mutate_rendered.py --list                 NAME RULE per line
    mutate_rendered.py NAME < good.yaml > bad.yaml

Each mutation is one mistake a user or a later change could make; RULE is
the check_rendered.py rule that must report it. The test feeds every
mutation to the checker and fails unless the checker fails with that rule,
so a checker that silently stops checking is caught.
"""

import sys

import yaml

SECRET_PEM = ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n"
              "-----END PRIVATE KEY-----\n")


def deployment(docs):
    for d in docs:
        spec = d.get("spec", {}).get("template", {}).get("spec", {})
        names = [c["name"] for c in spec.get("initContainers", [])]
        if d.get("kind") == "Deployment" and "sealpod-init" in names:
            return spec
    raise SystemExit("no sealed Deployment in the input")


def container(spec, name):
    for c in spec.get("initContainers", []) + spec.get("containers", []):
        if c["name"] == name:
            return c
    raise SystemExit(f"no container {name}")


def model_server(spec):
    return spec["containers"][0]


def volume(spec, name):
    for v in spec["volumes"]:
        if v["name"] == name:
            return v
    raise SystemExit(f"no volume {name}")


def mount(c, path):
    for m in c["volumeMounts"]:
        if m["mountPath"] == path:
            return m
    raise SystemExit(f"no mount {path}")


def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def config_map(docs):
    return of_kind(docs, "ConfigMap")[0]


def edit_config(docs, key, fn):
    cm = config_map(docs)
    cfg = yaml.safe_load(cm["data"][key])
    fn(cfg)
    cm["data"][key] = yaml.safe_dump(cfg)


def m_hostpath(docs):
    spec = deployment(docs)
    spec["volumes"].append({"name": "cache",
                            "hostPath": {"path": "/var/cache"}})


def m_disk_emptydir(docs):
    del volume(deployment(docs), "sealpod-models")["emptyDir"]["medium"]


def m_tls_volume_disk(docs):
    volume(deployment(docs), "sealpod-tls")["emptyDir"] = {}


def m_tls_in_model_server(docs):
    model_server(deployment(docs))["volumeMounts"].append(
        {"name": "sealpod-tls", "mountPath": "/tls", "readOnly": True})


def m_models_writable(docs):
    mount(model_server(deployment(docs)), "/models")["readOnly"] = False


def m_secret_object(docs):
    docs.append({"apiVersion": "v1", "kind": "Secret",
                 "metadata": {"name": "model-key"},
                 "data": {"key": "AAAA"}})


def m_secret_env(docs):
    container(deployment(docs), "sealpod-init")["env"] = [
        {"name": "MODEL_KEY", "valueFrom": {
            "secretKeyRef": {"name": "model-key", "key": "key"}}}]


def m_pem_in_configmap(docs):
    config_map(docs)["data"]["tls.key"] = SECRET_PEM


def m_no_runtimeclass(docs):
    del deployment(docs)["runtimeClassName"]


def m_token_automount(docs):
    deployment(docs)["automountServiceAccountToken"] = True


def m_host_pid(docs):
    deployment(docs)["hostPID"] = True


def m_typo_container(docs):
    deployment(docs)["containers"].append({
        "name": "vlm", "volumeMounts": [{"name": "sealpod-models",
                                         "mountPath": "/models",
                                         "readOnly": True}]})


def m_sidecar_not_native(docs):
    del container(deployment(docs), "sealpod-sidecar")["restartPolicy"]


def m_sidecar_main(docs):
    spec = deployment(docs)
    side = container(spec, "sealpod-sidecar")
    spec["initContainers"].remove(side)
    del side["restartPolicy"]
    spec["containers"].append(side)


def m_probe_on_https(docs):
    side = container(deployment(docs), "sealpod-sidecar")
    side["readinessProbe"]["httpGet"]["port"] = "https"


def m_exec_probe(docs):
    side = container(deployment(docs), "sealpod-sidecar")
    side["livenessProbe"] = {"exec": {"command": ["/bin/true"]}}


def m_readiness_healthz(docs):
    side = container(deployment(docs), "sealpod-sidecar")
    side["readinessProbe"]["httpGet"]["path"] = "/healthz"


def m_init_args(docs):
    container(deployment(docs), "sealpod-init")["args"] = ["run"]


def m_sidecar_first(docs):
    inits = deployment(docs)["initContainers"]
    inits.reverse()


def m_init_root(docs):
    ctx = container(deployment(docs), "sealpod-init")["securityContext"]
    ctx["runAsNonRoot"] = False
    ctx["runAsUser"] = 0


def m_priv_esc(docs):
    ctx = container(deployment(docs), "sealpod-sidecar")["securityContext"]
    ctx["allowPrivilegeEscalation"] = True


def m_caps_added(docs):
    ctx = container(deployment(docs), "sealpod-init")["securityContext"]
    ctx["capabilities"]["add"] = ["SYS_ADMIN"]


def m_writable_root(docs):
    ctx = container(deployment(docs), "sealpod-sidecar")["securityContext"]
    ctx["readOnlyRootFilesystem"] = False


def m_no_seccomp(docs):
    ctx = container(deployment(docs), "sealpod-init")["securityContext"]
    del ctx["seccompProfile"]


def m_model_args(docs):
    model_server(deployment(docs)).setdefault("args", []).append("--debug")


def m_model_image(docs):
    model_server(deployment(docs))["image"] = "example.invalid/other:1"


def m_netpol_open_ingress(docs):
    del of_kind(docs, "NetworkPolicy")[0]["spec"]["ingress"][0]["from"]


def m_netpol_model_port(docs):
    np = of_kind(docs, "NetworkPolicy")[0]
    np["spec"]["ingress"][0]["ports"].append({"protocol": "TCP",
                                              "port": 8000})


def m_netpol_any_egress(docs):
    of_kind(docs, "NetworkPolicy")[0]["spec"]["egress"].append({})


def m_netpol_world(docs):
    np = of_kind(docs, "NetworkPolicy")[0]
    np["spec"]["egress"][1]["to"] = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]


def m_netpol_missing(docs):
    for np in of_kind(docs, "NetworkPolicy"):
        docs.remove(np)


def m_service_plain(docs):
    svc = of_kind(docs, "Service")[0]
    svc["spec"]["ports"].append({"name": "http", "port": 80,
                                 "targetPort": "http"})


def m_config_ready_file(docs):
    edit_config(docs, "sidecar.yaml",
                lambda c: c.update(ready_file="/tmp/ready"))


def m_config_unknown_key(docs):
    edit_config(docs, "init.yaml", lambda c: c.update(insecure=True))


def m_config_target(docs):
    edit_config(docs, "init.yaml", lambda c: c.update(target="/var/models"))


def m_config_backend(docs):
    edit_config(docs, "sidecar.yaml",
                lambda c: c.update(backend="10.0.0.1:8000"))


MUTATIONS = {
    "hostpath": (m_hostpath, "no-hostpath"),
    "disk-emptydir": (m_disk_emptydir, "memory-volumes"),
    "tls-volume-disk": (m_tls_volume_disk, "memory-volumes"),
    "tls-in-model-server": (m_tls_in_model_server, "model-server-mounts"),
    "models-writable": (m_models_writable, "model-server-mounts"),
    "secret-object": (m_secret_object, "no-secrets"),
    "secret-env": (m_secret_env, "no-secrets"),
    "pem-in-configmap": (m_pem_in_configmap, "no-secrets"),
    "no-runtimeclass": (m_no_runtimeclass, "pod-spec"),
    "token-automount": (m_token_automount, "pod-spec"),
    "host-pid": (m_host_pid, "pod-spec"),
    "typo-container": (m_typo_container, "pod-spec"),
    "sidecar-not-native": (m_sidecar_not_native, "sidecar"),
    "sidecar-main": (m_sidecar_main, "sidecar"),
    "probe-on-https": (m_probe_on_https, "sidecar-probes"),
    "exec-probe": (m_exec_probe, "sidecar-probes"),
    "readiness-healthz": (m_readiness_healthz, "sidecar-probes"),
    "init-args": (m_init_args, "init-container"),
    "sidecar-first": (m_sidecar_first, "init-container"),
    "init-root": (m_init_root, "security-context"),
    "priv-esc": (m_priv_esc, "security-context"),
    "caps-added": (m_caps_added, "security-context"),
    "writable-root": (m_writable_root, "security-context"),
    "no-seccomp": (m_no_seccomp, "security-context"),
    "model-args": (m_model_args, "model-server-unchanged"),
    "model-image": (m_model_image, "model-server-unchanged"),
    "netpol-open-ingress": (m_netpol_open_ingress, "networkpolicy"),
    "netpol-model-port": (m_netpol_model_port, "networkpolicy"),
    "netpol-any-egress": (m_netpol_any_egress, "networkpolicy"),
    "netpol-world": (m_netpol_world, "networkpolicy"),
    "netpol-missing": (m_netpol_missing, "networkpolicy"),
    "service-plain": (m_service_plain, "service"),
    "config-ready-file": (m_config_ready_file, "config"),
    "config-unknown-key": (m_config_unknown_key, "config"),
    "config-target": (m_config_target, "config"),
    "config-backend": (m_config_backend, "config"),
}


def main():
    if sys.argv[1:] == ["--list"]:
        for name, (_, rule) in MUTATIONS.items():
            print(name, rule)
        return 0
    if len(sys.argv) != 2 or sys.argv[1] not in MUTATIONS:
        print(__doc__, file=sys.stderr)
        return 2
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d is not None]
    MUTATIONS[sys.argv[1]][0](docs)
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
