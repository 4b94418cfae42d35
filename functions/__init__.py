"""Serverless floating-license API: seats held through leases, with signed lease tokens."""
