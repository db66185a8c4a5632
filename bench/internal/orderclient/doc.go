// Package orderclient is the benchmarks' client of serve's order saga API
// over keep-alive connections: users and products created, orders placed,
// sagas awaited with GET /api/sagas/{id}?wait= (a wait the server cuts
// short is counted and asked again), and any JSON request (Do). bench/saga
// and bench/cluster drive their sagas with it.
package orderclient
