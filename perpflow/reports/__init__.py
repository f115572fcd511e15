"""perpflow.reports: plots and HTML reports (heatmap, structure, sessions, derivatives, risk, study pages)."""
