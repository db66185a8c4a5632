// Command zuora-sim serves zuora/zuorasim, the stand-in for the Zuora
// Workflow API, on its own (`make run` starts it): per tenant, the OAuth
// token endpoint and the paginated GET /workflows, plus a control API under
// /_sim/ for tests and demos.
//
//	zuora-sim [--addr 127.0.0.1:8081] [--demo] [--tenants FILE] [--latency 20ms] [--token-ttl 3599s]
//
//	POST   /oauth/token                      form client_id, client_secret, grant_type=client_credentials
//	GET    /workflows?page=N&page_length=L   Bearer; L ≤ 50 (default 20); next_page absolute, absent on the last page
//	PUT    /_sim/tenants/{client_id}         {"client_secret","workflows":[…],"time_format":"iso|space|mixed"}
//	POST   /_sim/tenants/{client_id}/faults  {"page":N,"status":500|429,"times":N,"retry_after":S}
//	DELETE /_sim/tenants/{client_id}/faults  clears the tenant's faults
//	DELETE /_sim/tenants/{client_id}/tokens  revokes the tenant's tokens (the next page request gets a 401)
//	GET    /_sim/stats                       token and page requests, in total and per tenant
//
// --demo serves demo-small (12 workflows), demo-large (500) and demo-empty,
// each with the secret "<client id>-secret".
package main
