"""Resource alerts: CPU and memory use relative to the container limit.

CPU without a limit (locally) is relative to the CPUs the process may run on (``app.container``).

The app exports both as percent 0-100 of the limit (``app.metric_names``); the expressions
divide by 100 so the alert value is a ratio that ``humanizePercentage`` renders.
"""

from __future__ import annotations

from alerts.common import alert, alert_prefix, group, number, selector
from app import metric_names
from monitoring.config import MonitoringConfig

POD_LABELS = "job, namespace, pod"


def rules(config: MonitoringConfig) -> list[dict]:
    """CPU and memory alerts; thresholds ``config.{cpu,memory}_warning_percent`` (0-100)."""
    prefix = alert_prefix(config)
    sel = selector(config)
    cpu_ratio = config.cpu_warning_percent / 100
    memory_ratio = config.memory_warning_percent / 100
    return [
        alert(
            f"{prefix}CpuUsageHigh",
            expr=f"""
                max by ({POD_LABELS}) ({metric_names.CPU_USAGE_PERCENT}{sel}) / 100
                > {number(cpu_ratio)}
            """,
            for_=config.cpu_warning_for,
            severity="warning",
            summary="{{ $labels.pod }} uses most of its CPU limit",
            description=(
                "Pod {{ $labels.pod }} of job {{ $labels.job }} in namespace "
                "{{ $labels.namespace }} has used {{ $value | humanizePercentage }} of its "
                "container CPU limit (without a limit: of the CPUs it may run on) for more than "
                f"{config.cpu_warning_for} (threshold {config.cpu_warning_percent:g}%): the "
                "kernel throttles it and responses slow down."
            ),
        ),
        alert(
            f"{prefix}MemoryUsageHigh",
            expr=f"""
                max by ({POD_LABELS}) ({metric_names.MEMORY_USAGE_PERCENT}{sel}) / 100
                > {number(memory_ratio)}
            """,
            for_=config.memory_warning_for,
            severity="warning",
            summary="{{ $labels.pod }} is close to its memory limit",
            description=(
                "Pod {{ $labels.pod }} of job {{ $labels.job }} in namespace "
                "{{ $labels.namespace }} has used {{ $value | humanizePercentage }} of its "
                f"container memory limit for more than {config.memory_warning_for} (threshold "
                f"{config.memory_warning_percent:g}%): at the limit the kernel OOM-kills the "
                "container (OOMKilled, then a restart)."
            ),
        ),
    ]


def groups(config: MonitoringConfig) -> list[dict]:
    """The area's rule groups."""
    return [group(config, "resources", rules(config))]
