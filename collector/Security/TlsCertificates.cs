using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Vigil.Collector.Configuration;

namespace Vigil.Collector.Security;

/// <summary>
/// What the listeners present and whom they accept under <c>server.tls</c>: the certificate from its
/// PEM files and, with <c>client_ca_file</c>, the CAs a client certificate must chain to. The files are
/// read again when their contents change — checked on a handshake, at most once per
/// <see cref="CheckInterval"/> of the injected clock — so a renewed certificate is served without a
/// restart. Files that changed but do not load (half written, a key that does not match) are logged
/// as an error and the previous certificate stays. Decision 015.
/// </summary>
public sealed class TlsCertificates
{
    /// <summary>How often a handshake looks at the files: a stat and a read of a few KB, not per connection.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    private readonly TlsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _reload = new();
    private volatile Loaded _current;
    private long _lastCheckTicks;
    private byte[]? _refusedDigest;
    private string? _lastReadProblem;

    public TlsCertificates(VigilOptions options, TimeProvider time, ILogger<TlsCertificates> logger)
    {
        _options = options.Tls;
        _time = time;
        _logger = logger;
        var (files, readProblem) = Read(_options);
        var (loaded, problem) = files is null ? (null, readProblem) : Load(_options, files);
        _current = loaded ?? throw new InvalidOperationException(problem);
        _lastCheckTicks = time.GetUtcNow().UtcTicks;
        if (loaded.Certificate.NotAfter.ToUniversalTime() < time.GetUtcNow().UtcDateTime)
        {
            _logger.LogWarning("TLS certificate {Subject} expired at {NotAfter:O}; clients will refuse it", loaded.Certificate.Subject, loaded.Certificate.NotAfter.ToUniversalTime());
        }
    }

    /// <summary>The certificate served now.</summary>
    public X509Certificate2 Certificate => _current.Certificate;

    public bool RequiresClientCertificate => _options.ClientCaFile is not null;

    /// <summary>What is wrong with the files of <paramref name="options"/>, each starting with its setting (for ConfigLoader's file:line:col).</summary>
    public static IReadOnlyList<string> Check(TlsOptions options)
    {
        var (files, readProblem) = Read(options);
        var (_, problem) = files is null ? (null, readProblem) : Load(options, files);
        return problem is null ? [] : [problem];
    }

    /// <summary>Serves this listener over TLS with the current certificate, asking for a client certificate when mTLS is on.</summary>
    public void Use(ListenOptions listen) =>
        listen.UseHttps(new TlsHandshakeCallbackOptions { OnConnection = _ => ValueTask.FromResult(HandshakeOptions()) });

    /// <summary>A new options object per handshake: Kestrel fills in ALPN on it.</summary>
    internal SslServerAuthenticationOptions HandshakeOptions()
    {
        var loaded = Current();
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = loaded.Context,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        if (loaded.ClientCas is { } cas)
        {
            options.ClientCertificateRequired = true;
            options.RemoteCertificateValidationCallback = (_, certificate, chain, _) => Accepts(cas, certificate, chain);
        }

        return options;
    }

    private Loaded Current()
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (now - Interlocked.Read(ref _lastCheckTicks) < CheckInterval.Ticks)
        {
            return _current;
        }

        lock (_reload)
        {
            if (now - _lastCheckTicks >= CheckInterval.Ticks)
            {
                Interlocked.Exchange(ref _lastCheckTicks, now);
                Reload();
            }
        }

        return _current;
    }

    private void Reload()
    {
        var (files, readProblem) = Read(_options);
        if (files is null)
        {
            // A file between a delete and a rename: said once, retried on the next check.
            if (readProblem != _lastReadProblem)
            {
                _logger.LogError("TLS files cannot be read: {Problem}; still serving the certificate {Subject}", readProblem, _current.Certificate.Subject);
                _lastReadProblem = readProblem;
            }

            return;
        }

        _lastReadProblem = null;
        if (files.Digest.AsSpan().SequenceEqual(_current.Digest) || files.Digest.AsSpan().SequenceEqual(_refusedDigest))
        {
            return;
        }

        var (loaded, problem) = Load(_options, files);
        if (loaded is null)
        {
            _refusedDigest = files.Digest;
            _logger.LogError(
                "TLS files changed but do not load: {Problem}; still serving the previous certificate {Subject} (valid until {NotAfter:O})",
                problem, _current.Certificate.Subject, _current.Certificate.NotAfter.ToUniversalTime());
            return;
        }

        _current = loaded;
        _refusedDigest = null;
        _logger.LogInformation(
            "TLS certificate reloaded: {Subject}, valid until {NotAfter:O}, SHA-256 {Thumbprint}",
            loaded.Certificate.Subject, loaded.Certificate.NotAfter.ToUniversalTime(), loaded.Certificate.GetCertHashString(HashAlgorithmName.SHA256));
    }

    private bool Accepts(X509Certificate2Collection cas, X509Certificate? certificate, X509Chain? presented)
    {
        if (certificate is null)
        {
            _logger.LogDebug("TLS: refused a connection without a client certificate (server.tls.client_ca_file is set)");
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(cas);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.ApplicationPolicy.Add(ClientAuthentication);
        if (presented is not null)
        {
            // The intermediates the client sent, so a leaf below an intermediate chains to a configured root.
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (chain.Build(leaf))
        {
            return true;
        }

        _logger.LogDebug("TLS: refused the client certificate {Subject}: {Status}", leaf.Subject, string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim())));
        return false;
    }

    private static (Files? Files, string? Problem) Read(TlsOptions options)
    {
        string? reading = null;
        try
        {
            reading = "server.tls.cert_file";
            var certificate = File.ReadAllBytes(options.CertFile!);
            reading = "server.tls.key_file";
            var key = File.ReadAllBytes(options.KeyFile!);
            reading = "server.tls.client_ca_file";
            var cas = options.ClientCaFile is null ? [] : File.ReadAllBytes(options.ClientCaFile);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (var part in (ReadOnlySpan<byte[]>)[certificate, key, cas])
            {
                hash.AppendData(BitConverter.GetBytes(part.Length));
                hash.AppendData(part);
            }

            return (new Files(certificate, key, cas, hash.GetHashAndReset()), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"{reading}: {e.Message}");
        }
    }

    /// <summary>The certificate, its chain and the client CAs; the problem names the setting and file, never a key's bytes.</summary>
    private static (Loaded? Loaded, string? Problem) Load(TlsOptions options, Files files)
    {
        var certificatePem = Encoding.UTF8.GetString(files.Certificate);
        var chain = new X509Certificate2Collection();
        try
        {
            chain.ImportFromPem(certificatePem);
        }
        catch (CryptographicException e)
        {
            return (null, $"server.tls.cert_file: '{options.CertFile}' is not a PEM certificate: {e.Message}");
        }

        if (chain.Count == 0)
        {
            return (null, $"server.tls.cert_file: '{options.CertFile}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificatePem, Encoding.UTF8.GetString(files.Key));
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            // A missing key, an encrypted one and another certificate's all land here; the message says which.
            return (null, $"server.tls.key_file: '{options.KeyFile}' is not the unencrypted PEM private key (-----BEGIN PRIVATE KEY-----) of the certificate in cert_file: {e.Message}");
        }

        if (OperatingSystem.IsWindows())
        {
            // SChannel cannot use the ephemeral key of a PEM import; a PKCS#12 round trip gives it a stored one.
            certificate = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        }

        X509Certificate2Collection? cas = null;
        if (options.ClientCaFile is not null)
        {
            cas = [];
            try
            {
                cas.ImportFromPem(Encoding.UTF8.GetString(files.ClientCas));
            }
            catch (CryptographicException e)
            {
                return (null, $"server.tls.client_ca_file: '{options.ClientCaFile}' is not a PEM certificate: {e.Message}");
            }

            if (cas.Count == 0)
            {
                return (null, $"server.tls.client_ca_file: '{options.ClientCaFile}' holds no PEM CA certificate (-----BEGIN CERTIFICATE-----)");
            }
        }

        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }

        var context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
        return (new Loaded(files.Digest, certificate, context, cas), null);
    }

    private sealed record Files(byte[] Certificate, byte[] Key, byte[] ClientCas, byte[] Digest);

    private sealed record Loaded(byte[] Digest, X509Certificate2 Certificate, SslStreamCertificateContext Context, X509Certificate2Collection? ClientCas);
}
