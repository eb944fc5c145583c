-- POST an empty redemption to the path given as the first script argument.
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
