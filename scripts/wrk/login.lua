-- POST /api/v2/auth/login with one email and password (each call opens a session).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_LOGIN_BODY")
