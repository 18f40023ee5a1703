-- POST /api/v2/auth/token with one API key (each call opens a session).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_KEY_BODY")
