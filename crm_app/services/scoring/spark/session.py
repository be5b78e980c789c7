"""One SparkSession per process, configured from the settings (local mode by default)."""
from __future__ import annotations

import os
import shutil

from crm_app.errors import ConfigError

SETTINGS = {
    "SPARK_MASTER": ("local[*]", "Spark master for `score --engine spark`: local[N] on this machine, or a "
                                 "cluster URL (spark://, yarn, k8s://)"),
    "SPARK_SHUFFLE_PARTITIONS": ("8", "spark.sql.shuffle.partitions for the scoring query (a few per core)"),
    "SPARK_DRIVER_MEMORY": ("1g", "spark.driver.memory (in local mode the whole engine runs in the driver)"),
}


class SparkUnavailable(ConfigError):
    """PySpark or a Java runtime is missing: say which, and how to get it (the CLI prints it, no traceback)."""


def _setting(name: str) -> str:
    return os.environ.get(name) or SETTINGS[name][0]


def java_missing() -> str | None:
    """Why Spark cannot start here (None when a Java runtime is on PATH or JAVA_HOME)."""
    if os.environ.get("JAVA_HOME") or shutil.which("java"):
        return None
    return "no Java runtime (set JAVA_HOME or put java 17+ on PATH; Debian: apt-get install openjdk-17-jre-headless)"


def spark_session(master: str | None = None, shuffle_partitions: int | None = None):
    """The process's SparkSession, created on first use. The UI is off and column names are case-sensitive
    (rule ids and property names are)."""
    reason = java_missing()
    if reason:
        raise SparkUnavailable(reason)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailable("PySpark is not installed: pip install -r requirements-dev.txt") from exc
    partitions = shuffle_partitions or int(_setting("SPARK_SHUFFLE_PARTITIONS"))
    builder = (SparkSession.builder.master(master or _setting("SPARK_MASTER")).appName("pql-scoring")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.caseSensitive", "true")
               .config("spark.sql.shuffle.partitions", str(partitions))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", _setting("SPARK_DRIVER_MEMORY"))
               .config("spark.sql.ansi.enabled", "true")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    session = builder.getOrCreate()
    session.conf.set("spark.sql.shuffle.partitions", str(partitions))
    session.sparkContext.setLogLevel("ERROR")
    return session
