"""RetrainPolicy logic, pure: when to run, whether a candidate passes the gate."""
