"""Checks deploy/: every YAML and JSON file parses, and each holds what
docs/operations.md ("Deploying") says it does.

Usage: /usr/bin/python3 check_files.py DEPLOY_DIR
"""

import json
import os
import re
import sys

import yaml

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def main():
    deploy = sys.argv[1]
    parsed = {}
    for root, _, files in os.walk(deploy):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, deploy)
            try:
                if name.endswith((".yml", ".yaml")):
                    parsed[rel] = load_yaml_docs(path)
                elif name.endswith(".json"):
                    with open(path) as f:
                        parsed[rel] = [json.load(f)]
                else:
                    continue
            except Exception as e:  # noqa: BLE001 - report any parse error
                check(False, "%s does not parse: %s" % (rel, e))
                continue
            print("parsed %s (%d document(s))" % (rel, len(parsed[rel])))
    for required in ["docker-compose.yml", "prometheus/prometheus.yml",
                     "prometheus/alerts.yml",
                     "grafana/provisioning/datasources/winnow.yml",
                     "grafana/provisioning/dashboards/winnow.yml",
                     "grafana/dashboards/winnow.json",
                     "kubernetes/kustomization.yaml"]:
        check(required in parsed, "missing or unparsable: " + required)
    if failures:
        return

    # ---- docker compose: the three services, wired to the files here ----
    compose = parsed["docker-compose.yml"][0]
    services = compose.get("services", {})
    check(set(services) == {"winnowd", "prometheus", "grafana"},
          "compose services: %s" % sorted(services))
    winnowd = services["winnowd"]
    check(winnowd.get("build", {}).get("dockerfile") == "deploy/Dockerfile",
          "compose builds winnowd from deploy/Dockerfile")
    check(os.path.isfile(os.path.join(deploy, "Dockerfile")), "deploy/Dockerfile exists")
    check(any("--metrics-listen=0.0.0.0:9464" == a for a in winnowd.get("command", [])),
          "compose's winnowd serves metrics to the Prometheus container")
    for service, mounts in (("prometheus", services["prometheus"]["volumes"]),
                            ("grafana", services["grafana"]["volumes"])):
        for mount in mounts:
            src = mount.split(":")[0]
            if src.startswith("./"):
                check(os.path.exists(os.path.join(deploy, src)),
                      "%s mounts %s, which exists" % (service, src))

    # ---- Prometheus: scrapes winnowd at the port compose gives it ----
    prom = parsed["prometheus/prometheus.yml"][0]
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    check("winnowd" in jobs, "a scrape job named winnowd (the alerts select it)")
    targets = [t for sc in jobs["winnowd"]["static_configs"] for t in sc["targets"]]
    check(targets == ["winnowd:9464"], "scrape target winnowd:9464, got %s" % targets)

    # ---- Grafana: the dashboard's datasource is the provisioned one, and
    # the provider loads the directory compose mounts ----
    ds = parsed["grafana/provisioning/datasources/winnow.yml"][0]["datasources"][0]
    check(ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090",
          "datasource points at compose's prometheus")
    provider = parsed["grafana/provisioning/dashboards/winnow.yml"][0]["providers"][0]
    grafana_mounts = dict(m.split(":")[:2] for m in services["grafana"]["volumes"])
    check(grafana_mounts.get("./grafana/dashboards") == provider["options"]["path"],
          "the dashboard provider reads the directory compose mounts")
    dash = parsed["grafana/dashboards/winnow.json"][0]
    check(dash.get("uid") and dash.get("title"), "dashboard uid and title")
    exprs = 0
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        check(panel.get("datasource", {}).get("uid") == ds["uid"],
              "panel %r uses datasource %s" % (panel["title"], ds["uid"]))
        check(panel.get("targets"), "panel %r has queries" % panel["title"])
        for t in panel.get("targets", []):
            exprs += 1
            check(t.get("expr") and t.get("refId"), "panel %r query has expr and refId" % panel["title"])
            check(t.get("datasource", {}).get("uid") == ds["uid"],
                  "panel %r query %s uses datasource %s" % (panel["title"], t.get("refId"), ds["uid"]))
    titles = " | ".join(p["title"] for p in dash["panels"])
    for needed in ["Requests per second by method", "Errors per second",
                   "Unary latency", "Served mixture against target",
                   "Sample throughput", "Write stalls", "Pending compaction",
                   "Block cache hit ratio", "SST and memtable bytes",
                   "Operations in flight"]:
        check(needed in titles, "dashboard has a panel %r" % needed)
    print("dashboard: %d panels, %d queries" % (
        sum(1 for p in dash["panels"] if p["type"] != "row"), exprs))

    # ---- Kubernetes: the kinds docs/operations.md lists, and the probes ----
    kustomization = parsed["kubernetes/kustomization.yaml"][0]
    objects = []
    for res in kustomization["resources"]:
        rel = os.path.join("kubernetes", res)
        check(rel in parsed, "kustomization resource %s exists and parses" % res)
        objects += parsed.get(rel, [])
    listed = {os.path.join("kubernetes", r) for r in kustomization["resources"]}
    for rel in parsed:
        if rel.startswith("kubernetes/") and rel != "kubernetes/kustomization.yaml":
            check(rel in listed, "%s is listed in kustomization.yaml" % rel)
    kinds = {}
    for obj in objects:
        check("apiVersion" in obj and "kind" in obj and obj.get("metadata", {}).get("name"),
              "every manifest has apiVersion, kind and metadata.name")
        kinds.setdefault(obj["kind"], []).append(obj)
    for kind in ["StatefulSet", "Service", "ServiceMonitor", "PodDisruptionBudget"]:
        check(kind in kinds, "a %s manifest" % kind)
    if not failures:
        sts = kinds["StatefulSet"][0]
        spec = sts["spec"]
        check(spec.get("volumeClaimTemplates"), "the StatefulSet has a PVC template")
        pod = spec["template"]["spec"]
        container = pod["containers"][0]
        args = container["args"]
        check("--health-listen=0.0.0.0:7451" in args, "winnowd runs with --health-listen=0.0.0.0:7451")
        health = {p["name"]: p["containerPort"] for p in container["ports"]}.get("health")
        check(health == 7451, "container port 'health' is 7451")
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"]:
            check(container.get(probe, {}).get("grpc", {}).get("port") == 7451,
                  "%s is a native gRPC probe on the health port" % probe)
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        check(mounts.get("data") == "/var/lib/winnow" and "--data-dir=/var/lib/winnow" in args,
              "the PVC is mounted at the data dir")
        grace = int(next(a.split("=")[1] for a in args if a.startswith("--shutdown-grace-seconds=")))
        check(pod["terminationGracePeriodSeconds"] > grace,
              "terminationGracePeriodSeconds above --shutdown-grace-seconds")
        check(pod["securityContext"].get("runAsNonRoot") is True, "runs as non-root")
        labels = spec["template"]["metadata"]["labels"]
        sm = kinds["ServiceMonitor"][0]
        selected = [s for s in kinds["Service"]
                    if all(s["metadata"]["labels"].get(k) == v
                           for k, v in sm["spec"]["selector"]["matchLabels"].items())]
        check(len(selected) == 1, "the ServiceMonitor selects exactly one Service")
        if selected:
            check(selected[0]["metadata"]["name"] == "winnowd",
                  "the ServiceMonitor's Service is 'winnowd' (the job the alerts select)")
            ports = {p["name"] for p in selected[0]["spec"]["ports"]}
            check(sm["spec"]["endpoints"][0]["port"] in ports,
                  "the ServiceMonitor's port is on its Service")
        for obj in kinds["Service"] + kinds["PodDisruptionBudget"]:
            sel = obj["spec"]["selector"]
            sel = sel.get("matchLabels", sel)
            check(all(labels.get(k) == v for k, v in sel.items()),
                  "%s %s selects the StatefulSet's pods" % (obj["kind"], obj["metadata"]["name"]))
        check(sts["spec"]["serviceName"] in [s["metadata"]["name"] for s in kinds["Service"]
                                             if s["spec"].get("clusterIP") == "None"],
              "the StatefulSet's serviceName is a headless Service")

    # ---- Dockerfile: multi-stage, non-root, volume, ports ----
    with open(os.path.join(deploy, "Dockerfile")) as f:
        dockerfile = f.read()
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    check(len(froms) == 2 and froms[0].startswith("debian:bookworm") and
          froms[1] == "debian:bookworm-slim",
          "two stages, bookworm then bookworm-slim: %s" % froms)
    runtime = dockerfile.split("FROM debian:bookworm-slim", 1)[-1]
    check(not re.search(r"-dev\b", runtime), "no -dev package in the runtime stage")
    check(re.search(r"^USER\s+10001", runtime, re.M), "the runtime runs as a non-root USER")
    check(re.search(r'^VOLUME\s+\["/var/lib/winnow"\]', runtime, re.M), "a data VOLUME")
    check(re.search(r"^EXPOSE\s+7450 7451 9464", runtime, re.M), "EXPOSE 7450 7451 9464")


if __name__ == "__main__":
    main()
    if failures:
        print("FAILED:")
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print("deploy/ checks passed")
