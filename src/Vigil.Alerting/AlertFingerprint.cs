using System.Text;

namespace Vigil.Alerting;

/// <summary>
/// Alertmanager's (and Prometheus') label-set fingerprint: FNV-1a 64 over each label, sorted by name, as
/// name 0xFF value 0xFF, printed as 16 lower-case hex digits. It is computed over the labels as Alertmanager receives
/// them (names translated as the Alertmanager receiver sends them: <c>tenant.id</c> → <c>tenant_id</c>), so the
/// fingerprint in Vigil's events, history and deliveries is the one Alertmanager shows, here and across restarts.
/// </summary>
public static class AlertFingerprint
{
    private const ulong OffsetBasis = 14695981039346656037;
    private const ulong Prime = 1099511628211;
    private const byte Separator = 0xFF;

    public static string Compute(IEnumerable<KeyValuePair<string, string>> labels)
    {
        var hash = OffsetBasis;
        Span<byte> buffer = stackalloc byte[256];
        var sent = labels as IReadOnlyDictionary<string, string> ?? labels.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        foreach (var (name, value) in Implementation.HttpDelivery.PrometheusNames(sent))
        {
            hash = Add(hash, name, buffer);
            hash = Add(hash, Separator);
            hash = Add(hash, value, buffer);
            hash = Add(hash, Separator);
        }

        return hash.ToString("x16");
    }

    private static ulong Add(ulong hash, string text, Span<byte> buffer)
    {
        var bytes = Encoding.UTF8.GetMaxByteCount(text.Length) <= buffer.Length ? buffer : new byte[Encoding.UTF8.GetByteCount(text)];
        var n = Encoding.UTF8.GetBytes(text, bytes);
        foreach (var b in bytes[..n])
        {
            hash = Add(hash, b);
        }

        return hash;
    }

    private static ulong Add(ulong hash, byte b) => (hash ^ b) * Prime;
}
