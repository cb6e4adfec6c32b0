package gqlws

// Close codes. The 44xx codes are graphql-transport-ws's; clients treat
// 4400, 4401, 4406, 4409, 4429 and 4500 as fatal and retry after 4403,
// 4408, 1001, 1006, 1012 and 1013.
const (
	CloseNormal              = 1000
	CloseGoingAway           = 1001 // server shutting down: reconnect and resume
	CloseInternalError       = 1011
	CloseTryAgainLater       = 1013 // e.g. the client stopped reading: reconnect and resume
	CloseBadRequest          = 4400 // invalid message
	CloseUnauthorized        = 4401 // subscribe before connection_ack
	CloseForbidden           = 4403 // connection_init refused
	CloseSubprotocol         = 4406 // no subprotocol this server speaks
	CloseInitTimeout         = 4408 // no connection_init in time
	CloseDuplicateID         = 4409 // subscriber for that id already exists
	CloseTooManyInits        = 4429 // a second connection_init
	CloseInternalServerError = 4500
)

// The two subprotocols.
const (
	TransportWS = "graphql-transport-ws"
	LegacyWS    = "graphql-ws"
)
