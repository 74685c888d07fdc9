"""The «Отчёты» screen's figures, one module per report, each over a period of clinic
days (core.reports.period) and giving a core.reports.model.Report: the charts' series and
the tables behind them (the same numbers the CSV carries)."""
