"""Checks of ``terraform/`` with the real tools: terraform fmt/init/validate/test, checkov, kubectl.

Everything runs offline. ``terraform init`` needs the hashicorp/aws provider: the tests look for
a local filesystem mirror (``TF_PLUGIN_MIRROR`` if set, else ``/opt/tf-plugins`` and Terraform's
usual plugin directories; see ``mirror_candidates``), write a CLI
configuration file pointing Terraform at it into a temporary directory (no machine path is ever
committed), and run init/validate/test on a temporary copy of ``terraform/`` so that nothing
(``.terraform/``, the lock file) is written into the repository. Without a mirror they fall back
to the public registry if it answers; with neither they skip with the reason (fail under CI).

``terraform test`` runs ``terraform/tests/*.tftest.hcl`` in plan mode against ``mock_provider
"aws"``: no AWS credentials and no network are needed.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import subprocess
from pathlib import Path

import hcl2
import pytest
import yaml

from tests.conftest import ROOT, checkov_binary, in_ci, require_binary

pytestmark = pytest.mark.terraform

TF_DIR = ROOT / "terraform"
PROVIDER = "registry.terraform.io/hashicorp/aws"
REGISTRY_HOST = "registry.terraform.io"
TIMEOUT_S = 600  # one terraform/checkov invocation, seconds
TF_HINT = "install Terraform >= 1.11 (https://developer.hashicorp.com/terraform/install)"


def _platform() -> str:
    """Terraform's name for this machine's platform, e.g. ``linux_amd64``."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


def mirror_candidates() -> list[Path]:
    """Where a filesystem mirror of providers may be, most specific first.

    ``TF_PLUGIN_MIRROR``, when set, is the only candidate (an explicit choice is not second-
    guessed). Otherwise ``/opt/tf-plugins`` (where this project's build machines put it), then
    the directories Terraform itself searches for implied local mirrors on Unix.
    """
    override = os.environ.get("TF_PLUGIN_MIRROR", "")
    if override:
        return [Path(override)]
    home = Path.home()
    xdg_data = Path(os.environ.get("XDG_DATA_HOME", home / ".local" / "share"))
    candidates = [
        "/opt/tf-plugins",
        home / ".terraform.d" / "plugins",
        xdg_data / "terraform" / "plugins",
        "/usr/local/share/terraform/plugins",
        "/usr/share/terraform/plugins",
    ]
    return [Path(c) for c in candidates if str(c)]


def has_aws_provider(mirror: Path) -> bool:
    """True if ``mirror`` holds hashicorp/aws for this platform, unpacked or packed layout."""
    provider_dir = mirror / PROVIDER
    if not provider_dir.is_dir():
        return False
    unpacked = any(provider_dir.glob(f"*/{_platform()}/terraform-provider-aws*"))
    packed = any(provider_dir.glob(f"terraform-provider-aws_*_{_platform()}.zip"))
    return unpacked or packed


def find_provider_mirror() -> Path | None:
    """The first candidate mirror holding the AWS provider, or None."""
    return next((m for m in mirror_candidates() if has_aws_provider(m)), None)


def registry_reachable(timeout_s: float = 3.0) -> bool:
    """True if a TCP connection to the public Terraform registry opens within ``timeout_s``."""
    try:
        with socket.create_connection((REGISTRY_HOST, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def cli_config(mirror: Path | None) -> str:
    """A Terraform CLI configuration: install hashicorp/* from ``mirror`` only, or the defaults.

    Under a filesystem mirror, ``direct`` excludes hashicorp/* so that Terraform never tries
    the network for them (and fails fast and clearly if the mirror lacks a version).
    """
    if mirror is None:
        return "# no local mirror: providers come from the registry\n"
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(mirror))}\n"
        '    include = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "}\n"
    )


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``cwd``; returns the completed process (stdout and stderr as text)."""
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def output_of(proc: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr of ``proc``, for a failure message."""
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


@pytest.fixture(scope="module")
def terraform() -> str:
    """Path of the terraform binary (skip, or fail under CI, when missing)."""
    return require_binary("terraform", hint=TF_HINT)


@pytest.fixture(scope="module")
def tf_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for terraform: a CLI config of our own (mirror or registry), no prompts."""
    mirror = find_provider_mirror()
    if mirror is None and not registry_reachable():
        searched = ", ".join(str(c) for c in mirror_candidates())
        reason = (
            f"no local mirror of {PROVIDER} for {_platform()} (searched: {searched}; "
            f"set TF_PLUGIN_MIRROR to one) and {REGISTRY_HOST} is unreachable: "
            "cannot run terraform init/validate/test"
        )
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    config = tmp_path_factory.mktemp("tf-cli") / "terraform.rc"
    config.write_text(cli_config(mirror))
    env = dict(os.environ)
    env.update(
        TF_CLI_CONFIG_FILE=str(config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    # A shared plugin cache or data dir from the caller's shell would write outside the copy.
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    env.pop("TF_DATA_DIR", None)
    return env


@pytest.fixture(scope="module")
def initialised(terraform: str, tf_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """A temporary copy of terraform/ after ``terraform init -backend=false``."""
    workdir = tmp_path_factory.mktemp("tf") / "terraform"
    shutil.copytree(
        TF_DIR,
        workdir,
        ignore=shutil.ignore_patterns(
            ".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfplan", "terraform.tfvars"
        ),
    )
    proc = run([terraform, "init", "-backend=false", "-input=false", "-no-color"], workdir, tf_env)
    assert proc.returncode == 0, f"terraform init failed\n{output_of(proc)}"
    return workdir


def providerless_env(tmp_path: Path) -> dict[str, str]:
    """Environment for terraform commands that install no provider (an empty CLI config)."""
    config = tmp_path / "empty.rc"
    config.write_text("")
    return dict(os.environ, TF_CLI_CONFIG_FILE=str(config), TF_INPUT="0", CHECKPOINT_DISABLE="1")


def test_fmt_is_canonical(terraform: str, tmp_path: Path) -> None:
    """Every .tf/.tftest.hcl file is in `terraform fmt` style (check only, nothing rewritten)."""
    env = providerless_env(tmp_path)
    proc = run([terraform, "fmt", "-check", "-recursive", "-diff", "-no-color"], TF_DIR, env)
    assert proc.returncode == 0, f"run `terraform fmt -recursive terraform`\n{output_of(proc)}"


def test_validate_without_diagnostics(
    terraform: str, tf_env: dict[str, str], initialised: Path
) -> None:
    """`terraform validate` passes with no errors and no warnings (deprecated arguments warn)."""
    proc = run([terraform, "validate", "-json", "-no-color"], initialised, tf_env)
    result = json.loads(proc.stdout)
    assert result["valid"], output_of(proc)
    assert result["diagnostics"] == [], json.dumps(result["diagnostics"], indent=2)


def test_terraform_test_plan_mode(
    terraform: str, tf_env: dict[str, str], initialised: Path
) -> None:
    """`terraform test` (plan mode, mocked AWS): every run block passes, none is skipped."""
    proc = run([terraform, "test", "-no-color"], initialised, tf_env)
    assert proc.returncode == 0, f"terraform test failed\n{output_of(proc)}"
    declared = sum(
        len(re.findall(r'^run\s+"', f.read_text(), flags=re.MULTILINE))
        for f in (initialised / "tests").glob("*.tftest.hcl")
    )
    summary = re.search(r"Success! (\d+) passed, 0 failed\.", proc.stdout)
    assert summary, output_of(proc)
    assert int(summary.group(1)) == declared, f"not every run block ran\n{proc.stdout}"
    assert "skipped" not in proc.stdout, proc.stdout


def test_example_tfvars_pass_validation(
    terraform: str, tf_env: dict[str, str], initialised: Path
) -> None:
    """terraform.tfvars.example, loaded under the validation tests, breaks none of them.

    The example's values fill every variable the test file does not set itself (the test file
    sets vpc_id, private_subnet_ids and admin_principal_arns to the same placeholders), so a
    value in the example that fails its validation fails the baseline run.
    """
    argv = ["test", "-no-color", "-filter=tests/validation.tftest.hcl"]
    proc = run([terraform, *argv, "-var-file=terraform.tfvars.example"], initialised, tf_env)
    assert proc.returncode == 0, f"the example tfvars break validation\n{output_of(proc)}"
    assert 'run "valid_baseline_plans"... pass' in proc.stdout, proc.stdout


def test_kubeconfig_template_renders_for_kubectl(terraform: str, tmp_path: Path) -> None:
    """kubeconfig.tpl, rendered by Terraform, is a kubeconfig kubectl resolves, using get-token."""
    kubectl = require_binary("kubectl")
    tf_env = providerless_env(tmp_path)
    render_dir = tmp_path / "render"
    render_dir.mkdir()
    values = {
        "cluster_name": "demo-app",
        "endpoint": "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com",
        "certificate_authority_data": "Q0EtREFUQQ==",
        "region": "eu-west-1",
    }
    # A provider-less root module: its only job is templatefile() on the real template.
    (render_dir / "main.tf").write_text(
        'output "kubeconfig" {\n'
        f"  value = templatefile({json.dumps(str(TF_DIR / 'kubeconfig.tpl'))}, "
        f"jsondecode({json.dumps(json.dumps(values))}))\n"
        "}\n"
    )
    for argv in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        proc = run([terraform, *argv, "-no-color"], render_dir, tf_env)
        assert proc.returncode == 0, output_of(proc)
    proc = run([terraform, "output", "-raw", "kubeconfig"], render_dir, tf_env)
    assert proc.returncode == 0, output_of(proc)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(proc.stdout)

    # --minify resolves current-context -> context -> cluster and user, failing on a dangling one.
    proc = run(
        [kubectl, "config", "view", f"--kubeconfig={kubeconfig}", "--minify", "--raw", "-ojson"],
        tmp_path,
        dict(os.environ),
    )
    assert proc.returncode == 0, output_of(proc)
    config = json.loads(proc.stdout)
    assert config["current-context"] == values["cluster_name"]
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == values["endpoint"]
    assert cluster["certificate-authority-data"] == values["certificate_authority_data"]
    auth = config["users"][0]["user"]["exec"]
    assert auth["command"] == "aws"
    assert auth["args"] == [
        "--region",
        values["region"],
        "eks",
        "get-token",
        "--cluster-name",
        values["cluster_name"],
        "--output",
        "json",
    ]
    assert "token" not in config["users"][0]["user"], "the kubeconfig must hold no credential"


def _checkov_report(stdout: str) -> dict:
    """The terraform report from checkov's JSON (a dict, or a list of per-framework dicts)."""
    report = json.loads(stdout)
    if isinstance(report, list):
        report = next(r for r in report if r.get("check_type") == "terraform")
    return report


INLINE_SKIP = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z0-9]+_\d+)(?::(.*))?")


def test_checkov_reports_no_failed_checks(tmp_path: Path) -> None:
    """checkov (pinned, offline) finds 0 failed checks; each skip is an inline, reasoned one."""
    checkov = checkov_binary()
    proc = run(
        [checkov, "-d", str(TF_DIR), "--framework=terraform", "--skip-download", "-ojson"],
        tmp_path,
        dict(os.environ),
    )
    assert proc.stdout.strip(), output_of(proc)
    report = _checkov_report(proc.stdout)
    results = report["results"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in results["failed_checks"]
    ]
    assert failed == [], "checkov failed checks:\n" + "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    # The resources were really checked: the controls the issue names passed.
    passed = {c["check_id"] for c in results["passed_checks"]}
    expected = {
        "CKV_AWS_37",  # all control-plane log types
        "CKV_AWS_58",  # secrets encryption
        "CKV_AWS_79",  # IMDSv1 disabled
        "CKV_AWS_341",  # IMDS hop limit 1
        "CKV_AWS_7",  # KMS rotation
        "CKV_AWS_51",  # ECR immutable tags
        "CKV_AWS_163",  # ECR scan on push
        "CKV_AWS_136",  # ECR encrypted with KMS
        "CKV_AWS_100",  # node group without SSH
    }
    assert expected <= passed, f"checkov did not evaluate: {sorted(expected - passed)}"

    # Every skip checkov applied comes from an inline comment with a reason.
    inline = {}
    for tf in TF_DIR.rglob("*.tf"):
        for match in INLINE_SKIP.finditer(tf.read_text()):
            reason = (match.group(2) or "").strip()
            assert len(reason) >= 20, f"{tf.name}: skip of {match.group(1)} needs a real reason"
            inline[match.group(1)] = reason
    skipped = {c["check_id"] for c in results["skipped_checks"]}
    assert skipped == set(inline), f"skips applied {sorted(skipped)} != inline {sorted(inline)}"


def test_no_lock_file_state_or_tfvars_in_git() -> None:
    """git tracks no lock file, state, plan, tfvars or .terraform/ under terraform/."""
    git = require_binary("git")
    proc = run([git, "ls-files", "--", "terraform"], ROOT, dict(os.environ))
    if proc.returncode != 0:
        pytest.skip(f"not a git checkout: {proc.stderr.strip()}")
    tracked = proc.stdout.split()
    assert tracked, "terraform/ is not tracked at all"
    forbidden = re.compile(
        r"(^|/)\.terraform(/|\.lock\.hcl$)|\.tfstate(\.|$)|\.tfplan$|\.tfvars(\.json)?$"
    )
    bad = [path for path in tracked if forbidden.search(path)]
    assert bad == [], f"must not be committed: {bad}"
    assert "terraform/terraform.tfvars.example" in tracked


# --- capacity with one node lost (issue 16) ---------------------------------------------------

# ENIs and IPv4 addresses per ENI of the instance types the docs discuss (EC2 User Guide, "IP
# addresses per network interface per instance type").
ENI_LIMITS = {
    "t3.medium": (3, 6),
    "t3.large": (3, 12),
    "t3.xlarge": (4, 15),
    "m5.large": (3, 10),
    "m6i.large": (3, 10),
}

# Pods that are not the app or kube-prometheus-stack's HA pair/trio, per the add-on or chart
# defaults: (count, where the number comes from).
FIXED_DEPLOYMENT_PODS = {
    "coredns": (2, "EKS coredns add-on default"),
    "ebs-csi-controller": (2, "aws-ebs-csi-driver add-on default"),
    "metrics-server": (2, "EKS metrics-server add-on default"),
    "cloudwatch-controller-manager": (1, "amazon-cloudwatch-observability operator"),
    "cluster-autoscaler": (2, "counted as a leader-elected pair (chart default is 1)"),
    "grafana": (1, "kube-prometheus-stack default"),
    "prometheus-operator": (1, "kube-prometheus-stack default"),
    "kube-state-metrics": (1, "kube-prometheus-stack default"),
}

# One pod per node each: VPC CNI (aws-node), kube-proxy, Pod Identity agent, EBS CSI node,
# node-exporter, CloudWatch agent, Fluent Bit. Host-network pods count against max pods too.
DAEMONSETS_PER_NODE = 7

# The monitoring HA replica counts (issue 17); values.yaml may say more, never less.
HA_FLOOR = {"prometheus": 2, "alertmanager": 3}


# Memory of the same instance types, MiB (EC2 instance type specifications).
MEMORY_MIB = {"t3.medium": 4096, "t3.large": 8192, "t3.xlarge": 16384, "m5.large": 8192}
# Estimated requests of the pods this repository does not size itself (kube-prometheus-stack
# leaves Alertmanager, Grafana, the operator and kube-state-metrics unset; the EKS add-ons' own
# defaults): a generous 200 MiB each, plus 100 MiB per DaemonSet pod.
ESTIMATED_REQUEST_MIB = 200
ESTIMATED_DAEMONSET_MIB = 100


def max_pods(instance_type: str) -> int:
    """The kubelet's max pods on an EKS AMI without prefix delegation: ENIs x (IPs - 1) + 2.

    Source: amazon-eks-ami's eni-max-pods.txt formula (one address per ENI is the ENI's own,
    +2 for the host-network aws-node and kube-proxy). Raises KeyError for an unlisted type.
    """
    enis, ips = ENI_LIMITS[instance_type]
    return enis * (ips - 1) + 2


def allocatable_mib(instance_type: str) -> int:
    """Memory the kubelet offers pods on an AL2023 EKS node, MiB: capacity minus kube-reserved
    (255 MiB + 11 MiB per possible pod, the EKS AMI's formula) minus the 100 MiB hard eviction
    threshold. Raises KeyError for an unlisted type."""
    return MEMORY_MIB[instance_type] - (255 + 11 * max_pods(instance_type)) - 100


def _mib(quantity: str) -> float:
    """A Kubernetes memory quantity in Mi or Gi as MiB ("112Mi" -> 112, "1Gi" -> 1024)."""
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(Mi|Gi)", quantity).groups()
    return float(number) * (1024 if unit == "Gi" else 1)


def _hcl_string(value: str) -> str:
    """python-hcl2 keeps HCL string literals quoted: '"t3.large"' -> 't3.large'."""
    return json.loads(value) if value.startswith('"') else value


def _variable_defaults() -> dict[str, object]:
    with (TF_DIR / "variables.tf").open() as f:
        parsed = hcl2.load(f)
    defaults = {}
    for block in parsed["variable"]:
        for name, body in block.items():
            default = body.get("default")
            defaults[_hcl_string(name)] = (
                _hcl_string(default) if isinstance(default, str) else default
            )
    return defaults


def pods_needed(nodes: int) -> dict[str, int]:
    """Pods the cluster must hold on ``nodes`` nodes, by name, at HPA max with monitoring HA."""
    hpa = yaml.safe_load((ROOT / "k8s" / "demo-app-horizontalpodautoscaler.yaml").read_text())
    values = yaml.safe_load((ROOT / "monitoring" / "values.yaml").read_text())
    prometheus = values["prometheus"]["prometheusSpec"].get("replicas", 1)
    alertmanager = values["alertmanager"]["alertmanagerSpec"].get("replicas", 1)
    pods = {name: count for name, (count, _) in FIXED_DEPLOYMENT_PODS.items()}
    pods.update(
        app=hpa["spec"]["maxReplicas"],
        prometheus=max(prometheus, HA_FLOOR["prometheus"]),
        alertmanager=max(alertmanager, HA_FLOOR["alertmanager"]),
        daemonsets=DAEMONSETS_PER_NODE * nodes,
    )
    return pods


def test_pods_fit_with_one_node_lost() -> None:
    """At the node minimum, HPA max + monitoring HA + daemonsets fit on the nodes left after one
    node (at one node per zone: one zone) is lost; docs/eks-terraform.md shows the same sums."""
    defaults = _variable_defaults()
    instance_type = defaults["node_instance_type"]
    nodes = defaults["node_scaling"]["min_size"] - 1
    assert "ENABLE_PREFIX_DELEGATION" not in (TF_DIR / "addons.tf").read_text(), (
        "prefix delegation changes max pods: update max_pods()"
    )
    needed = pods_needed(nodes)
    slots = max_pods(instance_type) * nodes
    assert sum(needed.values()) <= slots, f"{instance_type} x {nodes}: {needed} > {slots} slots"
    # The numbers the docs quote.
    docs = (ROOT / "docs" / "eks-terraform.md").read_text()
    assert f"{sum(needed.values())} pods on {nodes} nodes" in docs
    assert f"{max_pods(instance_type)} pods per node" in docs


def test_capacity_check_fails_for_the_old_node_size() -> None:
    """t3.medium (17 pods) x 2 nodes cannot hold the same workload: the check can fail."""
    assert max_pods("t3.medium") == 17 and max_pods("t3.large") == 35
    assert sum(pods_needed(2).values()) > max_pods("t3.medium") * 2


def test_memory_requests_fit_with_one_node_lost() -> None:
    """The memory requests (set ones read from the files, the rest estimated) fit in the
    allocatable memory of the nodes left after one is lost."""
    defaults = _variable_defaults()
    instance_type = defaults["node_instance_type"]
    nodes = defaults["node_scaling"]["min_size"] - 1
    pods = pods_needed(nodes)
    deployment = yaml.safe_load((ROOT / "k8s" / "demo-app-deployment.yaml").read_text())
    (app,) = deployment["spec"]["template"]["spec"]["containers"]
    values = yaml.safe_load((ROOT / "monitoring" / "values.yaml").read_text())
    prometheus = values["prometheus"]["prometheusSpec"]["resources"]["requests"]["memory"]
    with (TF_DIR / "addons.tf").open() as f:
        (metrics_server,) = [
            block["metrics_server_configuration"]
            for block in hcl2.load(f)["locals"]
            if "metrics_server_configuration" in block
        ]
    requests = {
        "app": pods.pop("app") * _mib(app["resources"]["requests"]["memory"]),
        "prometheus": pods.pop("prometheus") * _mib(prometheus),
        "metrics-server": pods.pop("metrics-server")
        * _mib(_hcl_string(metrics_server["resources"]["requests"]["memory"])),
        "daemonsets": pods.pop("daemonsets") * ESTIMATED_DAEMONSET_MIB,
        "others (estimated)": sum(pods.values()) * ESTIMATED_REQUEST_MIB,
    }
    available = allocatable_mib(instance_type) * nodes
    assert sum(requests.values()) <= available, f"{requests} > {available} MiB"
    # The old size fails the same sum: the check can fail.
    assert sum(requests.values()) > allocatable_mib("t3.medium") * nodes
