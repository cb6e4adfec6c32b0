# Rewind: the server, and the admin CLI beside it. Build: docker build -t rewind .
# Run the CLI from the image: docker run --rm --entrypoint /replayctl rewind --help
FROM golang:1.26.8 AS build
WORKDIR /src
# The root module alone (the workspace also holds the examples): it
# replaces the client module with ./client.
ENV GOWORK=off
COPY go.mod go.sum ./
COPY client/go.mod client/go.sum ./client/
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/ ./cmd/server ./cmd/replayctl \
 && mv /out/server /out/rewind

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rewind /out/replayctl /
EXPOSE 8080
# The image has no shell or curl: the binary probes its own /readyz, on
# the port in $ADDR (default 8080).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/rewind", "healthcheck"]
ENTRYPOINT ["/rewind"]
