"""What a study looks like to a person: the report (HTML, PNG, summary.json), the status text, the dashboard.

Reads the storage alone; imports neither Ray nor the trainers.

Example:
    >>> from actsearch.study import load_study, load_study_file
    >>> from actsearch.report import write_report, study_status
    >>> study_file = load_study_file("studies/quickstart.yaml")  # doctest: +SKIP
    >>> print(study_status(study_file))  # doctest: +SKIP
    >>> write_report(load_study(study_file), "report/")  # doctest: +SKIP
"""

from actsearch.report.dashboard import dashboard_command
from actsearch.report.status import study_status
from actsearch.report.write import ReportPaths, write_report

__all__ = ["ReportPaths", "dashboard_command", "study_status", "write_report"]
