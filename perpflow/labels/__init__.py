"""perpflow.labels: event labels. The only perpflow code allowed to read the future (rows > t);
features must never import from here."""
