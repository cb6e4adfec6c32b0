# The Rewind server. Build: docker build -t rewind .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /rewind ./cmd/server

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /rewind /rewind
EXPOSE 8080
ENTRYPOINT ["/rewind"]
