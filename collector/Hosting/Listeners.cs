using System.Net;
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

    public void Add(string name, ListenOptions options) => _listeners[name] = options;

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
}
