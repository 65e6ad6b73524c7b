"""Connection arguments for the embedded Airflow's SQLite database (``[database]
sql_alchemy_connect_args`` names this dict; every Airflow process imports it, so it imports nothing).

SQLite lets one writer in at a time, and Python's driver gives up on a locked database after 5 s.
On 2 busy cores a task's write can hold the lock longer, and a DAG run triggered meanwhile
failed with "Database error"; waiting up to 60 s turns that into a delay.
"""

CONNECT_ARGS = {"timeout": 60.0}
