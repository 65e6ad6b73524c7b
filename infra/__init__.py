"""Below the model repository: what any part of Modelyard needs from the machine and its neighbours.

Starting, stopping and finding processes by PID (``processes``), probing local servers over HTTP
(``probes``), waiting and backing off (``polling``, ``backoff``), the Airflow REST client
(``airflow_rest``) and the base error (``errors``). Nothing here imports the rest of Modelyard.
"""
