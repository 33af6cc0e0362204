"""What every AgentLedger service shares: settings, errors, logging, database, gRPC plumbing."""
