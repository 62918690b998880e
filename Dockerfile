# Production image: a static latchkey binary on a distroless base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/latchkey ./cmd/latchkey

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/latchkey /usr/local/bin/latchkey
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/latchkey"]
CMD ["serve"]
