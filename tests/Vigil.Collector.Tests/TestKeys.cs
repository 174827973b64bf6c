using Vigil.Collector.Configuration;
using Vigil.Collector.Security;

namespace Vigil.Collector.Tests;

/// <summary>Keys with known text for tests; the options hold only their hashes, as a real config does.</summary>
public static class TestKeys
{
    public const string IngestA = "vigil_test-ingest-key-for-tenant-a-000000000";
    public const string IngestB = "vigil_test-ingest-key-for-tenant-b-000000000";
    public const string IngestAdmin = "vigil_test-admin-ingest-key-for-gateway-0000";
    public const string ReadA = "vigil_test-read-key-for-tenant-a-00000000000";
    public const string AdminToken = "test-admin-token-0123456789";

    public static ApiKeyOptions Key(string tenant, string key, bool admin = false) =>
        new() { Tenant = tenant, KeySha256 = ApiKeys.HashHex(key), Admin = admin };

    /// <summary>Ingest keys for a, b and an admin gateway; read keys off.</summary>
    public static VigilOptions WithIngestKeys(VigilOptions options) => options with
    {
        Auth = new AuthOptions { IngestKeys = [Key("a", IngestA), Key("b", IngestB), Key("gateway", IngestAdmin, admin: true)] },
    };

    /// <summary>A read key for a and the admin token; ingest stays open so tests can write both tenants.</summary>
    public static VigilOptions WithReadKeys(VigilOptions options) => options with
    {
        AdminToken = AdminToken,
        Auth = new AuthOptions { ReadKeys = [Key("a", ReadA)] },
    };
}
