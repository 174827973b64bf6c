using System.Buffers;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Vigil.Collector;

/// <summary>Marks an endpoint as served on one listener only (otlp-grpc, otlp-http or http).</summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false)]
public sealed class ListenerAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>
/// The three listeners and the ports they actually bound (port 0 becomes a real port at start).
/// Requests are routed by the local port they arrived on, so /v1/metrics is not served on the
/// API port and the API is not served on the OTLP ports.
/// </summary>
public sealed class Listeners
{
    public const string OtlpGrpc = "otlp-grpc";
    public const string OtlpHttp = "otlp-http";
    public const string Http = "http";

    private readonly Dictionary<string, ListenOptions> _listeners = new(StringComparer.Ordinal);

    // The gRPC listener's HTTP/2 connection handler, which cleartext OTLP/HTTP connections that open with
    // the HTTP/2 preface are handed to (ServeH2c).
    private ConnectionDelegate? _http2;

    /// <summary>
    /// Registers a listener; call it last in the listener's configuration (after TLS). The gRPC listener
    /// lends its HTTP/2 handler to the OTLP/HTTP one, which serves HTTP/1.1 and HTTP/2 (see <see cref="ServeH2c"/>).
    /// </summary>
    public void Add(string name, ListenOptions options)
    {
        _listeners[name] = options;
        if (name == OtlpGrpc)
        {
            options.Use(next => _http2 = next);
        }
        else if (name == OtlpHttp)
        {
            ServeH2c(options);
        }
    }

    /// <summary>The bound endpoint of a listener (valid after start).</summary>
    public IPEndPoint EndPoint(string name) => _listeners[name].IPEndPoint!;

    public string? NameOfPort(int port)
    {
        foreach (var (name, options) in _listeners)
        {
            if (options.IPEndPoint?.Port == port)
            {
                return name;
            }
        }

        return null;
    }

    /// <summary>
    /// OTLP/HTTP over HTTP/1.1 and over HTTP/2 with prior knowledge (h2c) on one cleartext port, as the
    /// OpenTelemetry Collector serves it. Kestrel answers every connection of a cleartext endpoint that
    /// allows both with HTTP/1.1 (there is no ALPN to choose by; dotnet/aspnetcore#56984), so the first
    /// bytes choose here: the HTTP/2 client preface (RFC 9113 §3.4) goes to the gRPC listener's HTTP/2
    /// handler, anything else to this listener's HTTP/1.1 one, with nothing consumed. Requests still route
    /// by the local port, so an h2c connection reaches the OTLP/HTTP endpoints only. With TLS, ALPN chooses.
    /// </summary>
    private void ServeH2c(ListenOptions options) => options.Use(http1 =>
    {
        // A client that connects and stays silent gets Kestrel's own limit for a request's headers.
        var timeout = options.KestrelServerOptions.Limits.RequestHeadersTimeout;
        var time = options.ApplicationServices.GetService<TimeProvider>() ?? TimeProvider.System;
        return connection => connection.Features.Get<ITlsConnectionFeature>() is not null || _http2 is null
            ? http1(connection)
            : SniffAsync(connection, http1, _http2, timeout, time);
    });

    private static async Task SniffAsync(ConnectionContext connection, ConnectionDelegate http1, ConnectionDelegate http2, TimeSpan timeout, TimeProvider time)
    {
        var input = connection.Transport.Input;
        Opening opening;
        using (var silent = new CancellationTokenSource(timeout, time))
        using (var cancel = CancellationTokenSource.CreateLinkedTokenSource(silent.Token, connection.ConnectionClosed))
        {
            try
            {
                while (true)
                {
                    var read = await input.ReadAsync(cancel.Token);
                    opening = Classify(read.Buffer);
                    if (opening != Opening.Undecided || read.IsCompleted)
                    {
                        // Nothing consumed, nothing examined: the chosen handler reads the same bytes at once.
                        input.AdvanceTo(read.Buffer.Start);
                        break;
                    }

                    // A prefix of the preface so far: wait for more bytes.
                    input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                }
            }
            catch (OperationCanceledException)
            {
                return; // silent past the limit, or gone: Kestrel closes the connection
            }
        }

        await (opening == Opening.Http2 ? http2 : http1)(connection);
    }

    private enum Opening
    {
        Undecided,
        Http1,
        Http2,
    }

    private static Opening Classify(in ReadOnlySequence<byte> buffer)
    {
        var preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;
        Span<byte> head = stackalloc byte[preface.Length];
        var length = (int)Math.Min(buffer.Length, preface.Length);
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(preface[..length]))
        {
            return Opening.Http1;
        }

        return length == preface.Length ? Opening.Http2 : Opening.Undecided;
    }
}
