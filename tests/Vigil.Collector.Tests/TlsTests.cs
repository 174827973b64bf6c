using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Vigil.Collector.Configuration;
using Vigil.Collector.Security;
using Vigil.Otlp.Proto.Collector;

namespace Vigil.Collector.Tests;

/// <summary>
/// server.tls with real handshakes on 127.0.0.1: a CA made for the test issues the certificates, and
/// clients trust only that CA. OTLP/HTTP, OTLP/gRPC and the API are served over TLS; with a client CA
/// only certificates it issued get in; replaced files are served from the next handshake on.
/// </summary>
public sealed class TlsTests : IDisposable
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(static b => b, static b => b);
    private static readonly Method<byte[], byte[]> Export = new(MethodType.Unary, "opentelemetry.proto.collector.metrics.v1.MetricsService", "Export", Raw, Raw);

    private readonly string _directory = VigilServer.NewDataDir() + "-tls";
    private readonly TestCa _ca = new("vigil-test-ca");

    public TlsTests() => Directory.CreateDirectory(_directory);

    private string CertFile => Path.Combine(_directory, "tls.crt");

    private string KeyFile => Path.Combine(_directory, "tls.key");

    private string CaFile => Path.Combine(_directory, "clients-ca.crt");

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static Uri Https(IPEndPoint endpoint) => new($"https://127.0.0.1:{endpoint.Port}");

    private static async Task<HttpResponseMessage> PostOtlpAsync(HttpMessageHandler handler, VigilServer vigil, string metric, long value)
    {
        using var http = new HttpClient(handler, disposeHandler: false);
        using var body = new ByteArrayContent(OtlpRequests.DeltaCounter(metric, value).Bytes());
        body.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        return await http.PostAsync(new Uri(Https(vigil.OtlpHttp), "/v1/metrics"), body);
    }

    /// <summary>An export over a channel of its own: gRPC sets up the handler it is given, so each call gets a new one.</summary>
    private static async Task<ExportMetricsServiceResponse> ExportGrpcAsync(SocketsHttpHandler handler, VigilServer vigil, string metric, long value)
    {
        using var channel = GrpcChannel.ForAddress(Https(vigil.Grpc), new GrpcChannelOptions { HttpHandler = handler });
        var response = await channel.CreateCallInvoker().AsyncUnaryCall(Export, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), OtlpRequests.DeltaCounter(metric, value).Bytes());
        return ExportMetricsServiceResponse.Parser.ParseFrom(response);
    }

    private static string Sha256(X509Certificate2 certificate) => certificate.GetCertHashString(HashAlgorithmName.SHA256);

    [Fact]
    public async Task EveryListener_ServesTls_ToAClientTrustingTheCa()
    {
        using var server = _ca.Server();
        TestCa.WritePem(server, CertFile, KeyFile);
        await using var vigil = await VigilServer.StartAsync(o => o with { Tls = new TlsOptions { CertFile = CertFile, KeyFile = KeyFile } });

        var seen = new List<string>();
        using var handler = _ca.Handler(seen: c => { lock (seen) { seen.Add(Sha256(c)); } });
        using (var response = await PostOtlpAsync(handler, vigil, "tls.http", 5))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var grpc = await ExportGrpcAsync(_ca.Handler(seen: c => { lock (seen) { seen.Add(Sha256(c)); } }), vigil, "tls.grpc", 7);
        Assert.Null(grpc.PartialSuccess);

        using var api = new VigilApi(Https(vigil.Http), handler);
        Assert.Equal(5, await api.ValueAsync("tls.http", "increase"));
        Assert.Equal(7, await api.ValueAsync("tls.grpc", "increase"));

        // Every handshake (OTLP/HTTP, gRPC, API) was made with the configured certificate.
        Assert.NotEmpty(seen);
        Assert.All(seen, thumbprint => Assert.Equal(Sha256(server), thumbprint));

        // A client that trusts only the system store refuses the test CA's certificate: the check is real.
        using var untrusting = new SocketsHttpHandler();
        await Assert.ThrowsAsync<HttpRequestException>(() => PostOtlpAsync(untrusting, vigil, "tls.untrusted", 1));

        // Plain HTTP on a TLS listener is not served.
        using var plain = new HttpClient();
        await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync(new Uri($"http://127.0.0.1:{vigil.Http.Port}/healthz")));
        Assert.Empty(vigil.Store.ListSeries("tls.untrusted"));
    }

    [Fact]
    public async Task WithAClientCa_OnlyItsClientCertificatesGetIn()
    {
        using var server = _ca.Server();
        TestCa.WritePem(server, CertFile, KeyFile);
        _ca.WriteCaPem(CaFile);
        using var other = new TestCa("another-ca");
        using var ours = _ca.Client();
        using var foreign = other.Client("foreign-client");
        using var serverAsClient = _ca.Server("server-cert-used-as-client"); // the right CA, but not issued for client authentication
        var logs = new CapturingLoggerProvider();
        await using var vigil = await VigilServer.StartAsync(
            o => o with { Tls = new TlsOptions { CertFile = CertFile, KeyFile = KeyFile, ClientCaFile = CaFile } },
            host: builder =>
            {
                builder.Logging.AddProvider(logs);
                builder.Logging.AddFilter<CapturingLoggerProvider>(typeof(TlsCertificates).FullName, LogLevel.Debug);
            });

        using (var none = _ca.Handler())
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => PostOtlpAsync(none, vigil, "mtls.none", 1));
            var grpc = await Assert.ThrowsAsync<RpcException>(() => ExportGrpcAsync(_ca.Handler(), vigil, "mtls.none", 1));

            // The client's view of a refused handshake: UNAVAILABLE when the handshake fails first, INTERNAL
            // when the server's alert arrives while the call's stream is already being read (a race on 2 cores).
            Assert.Contains(grpc.StatusCode, new[] { StatusCode.Unavailable, StatusCode.Internal });
        }

        using (var wrongCa = _ca.Handler(foreign))
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => PostOtlpAsync(wrongCa, vigil, "mtls.foreign", 1));
        }

        using (var wrongUsage = _ca.Handler(serverAsClient))
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => PostOtlpAsync(wrongUsage, vigil, "mtls.usage", 1));
        }

        // Each was refused for its own reason: the foreign and misused certificates were sent, and judged.
        lock (logs.Messages)
        {
            Assert.Contains(logs.Messages, m => m.StartsWith("TLS: refused a connection without a client certificate", StringComparison.Ordinal));
            Assert.Contains(logs.Messages, m => m.StartsWith("TLS: refused the client certificate CN=foreign-client", StringComparison.Ordinal));
            Assert.Contains(logs.Messages, m => m.StartsWith("TLS: refused the client certificate CN=server-cert-used-as-client", StringComparison.Ordinal));
        }

        Assert.Empty(vigil.Store.ListSeries("mtls.none"));
        Assert.Empty(vigil.Store.ListSeries("mtls.foreign"));
        Assert.Empty(vigil.Store.ListSeries("mtls.usage"));

        using var valid = _ca.Handler(ours);
        using (var response = await PostOtlpAsync(valid, vigil, "mtls.ok", 3))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Null((await ExportGrpcAsync(_ca.Handler(ours), vigil, "mtls.ok", 4)).PartialSuccess);
        using var api = new VigilApi(Https(vigil.Http), valid);
        Assert.Equal(7, await api.ValueAsync("mtls.ok", "increase"));
    }

    [Fact]
    public async Task ReplacedFiles_AreServedFromTheNextHandshake_ABadReplacementKeepsTheLastGoodOne()
    {
        using var first = _ca.Server("first");
        TestCa.WritePem(first, CertFile, KeyFile);
        _ca.WriteCaPem(CaFile);
        using var client = _ca.Client();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var logs = new CapturingLoggerProvider();
        await using var vigil = await VigilServer.StartAsync(
            o => o with { Tls = new TlsOptions { CertFile = CertFile, KeyFile = KeyFile, ClientCaFile = CaFile } },
            time: clock,
            host: builder => builder.Logging.AddProvider(logs));

        async Task<string> ServedAsync(X509Certificate2 clientCertificate, TestCa trusting)
        {
            string? served = null;
            using var handler = trusting.Handler(clientCertificate, seen: c => served = Sha256(c));
            using var http = new HttpClient(handler);
            using var response = await http.GetAsync(new Uri(Https(vigil.Http), "/healthz"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return served!;
        }

        Assert.Equal(Sha256(first), await ServedAsync(client, _ca));

        using var second = _ca.Server("second");
        TestCa.WritePem(second, CertFile, KeyFile);
        clock.Advance(TlsCertificates.CheckInterval);
        Assert.Equal(Sha256(second), await ServedAsync(client, _ca));

        // Half a replacement: a certificate whose key is still the old one. Refused, logged, the last good pair kept.
        using var third = _ca.Server("third");
        File.WriteAllText(CertFile, third.ExportCertificatePem());
        clock.Advance(TlsCertificates.CheckInterval);
        Assert.Equal(Sha256(second), await ServedAsync(client, _ca));
        lock (logs.Messages)
        {
            Assert.Single(logs.Messages, m => m.StartsWith("TLS files changed but do not load: server.tls.key_file", StringComparison.Ordinal));
        }

        // A new client CA (and a server certificate it issued) replaces the old: its clients get in, the old CA's do not.
        using var next = new TestCa("next-ca");
        using var nextServer = next.Server("fourth");
        using var nextClient = next.Client();
        TestCa.WritePem(nextServer, CertFile, KeyFile);
        next.WriteCaPem(CaFile);
        clock.Advance(TlsCertificates.CheckInterval);
        Assert.Equal(Sha256(nextServer), await ServedAsync(nextClient, next));
        using (var oldClient = next.Handler(client))
        using (var http = new HttpClient(oldClient))
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri(Https(vigil.Http), "/healthz")));
        }

        lock (logs.Messages)
        {
            Assert.Equal(2, logs.Messages.Count(m => m.StartsWith("TLS certificate reloaded: CN=", StringComparison.Ordinal)));
        }
    }

    [Fact]
    public void ConfigProblems_NameTheSettingAndItsPlace()
    {
        var config = Path.Combine(_directory, "vigil.yaml");
        string Write(string yaml)
        {
            File.WriteAllText(config, yaml);
            return yaml;
        }

        // file:line:column of the value on a line of the config just written
        string Place(string yaml, int line)
        {
            var text = yaml.Split('\n')[line - 1];
            return $"{config}:{line}:{text.IndexOf(": ", StringComparison.Ordinal) + 3}";
        }

        File.WriteAllText(CertFile, "not a certificate\n");
        File.WriteAllText(KeyFile, "not a key\n");
        var yaml = Write("server:\n  tls:\n    cert_file: tls.crt\n    key_file: tls.key\n");
        var problem = Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.Load(config, [])).Problems);
        Assert.StartsWith($"{Place(yaml, 3)}: server.tls.cert_file: '{CertFile}' holds no PEM certificate", problem, StringComparison.Ordinal);

        using var server = _ca.Server();
        using var other = _ca.Server("other");
        File.WriteAllText(CertFile, server.ExportCertificatePem());
        File.WriteAllText(KeyFile, other.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        problem = Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.Load(config, [])).Problems);
        Assert.StartsWith($"{Place(yaml, 4)}: server.tls.key_file: '{KeyFile}' is not the unencrypted PEM private key (-----BEGIN PRIVATE KEY-----) of the certificate in cert_file: ", problem, StringComparison.Ordinal);

        yaml = Write("server:\n  tls:\n    cert_file: tls.crt\n    client_ca_file: missing.crt\n");
        var problems = Assert.Throws<ConfigException>(() => ConfigLoader.Load(config, [])).Problems;
        Assert.Equal(2, problems.Count);
        Assert.Contains($"{Place(yaml, 4)}: server.tls.client_ca_file: '{Path.Combine(_directory, "missing.crt")}' not found (a relative path is read from the config file's directory)", problems);
        Assert.Contains($"{config}:2:{yaml.Split('\n')[1].IndexOf("tls", StringComparison.Ordinal) + 1}: server.tls.key_file: required with server.tls.cert_file (the PEM private key of the certificate)", problems);

        TestCa.WritePem(server, CertFile, KeyFile);
        Write("server:\n  tls:\n    cert_file: tls.crt\n    key_file: tls.key\n");
        var loaded = ConfigLoader.Load(config, []);
        Assert.Equal(new TlsOptions { CertFile = CertFile, KeyFile = KeyFile }, loaded.Tls);
    }
}
