"""Usage metering and billing: the usage ledger, price plans, monthly reports and periods.

The ledger is written by the seat logic (`functions.seats.close_lease` and the acquire
denial path) inside the same store transaction as the state change it records. Everything
else here reads the ledger after the fact and never writes seats or leases.
"""
