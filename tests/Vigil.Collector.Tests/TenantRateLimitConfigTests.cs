using Vigil.Collector.Configuration;

namespace Vigil.Collector.Tests;

/// <summary>The rate-limit settings as vigil.yaml gives them: applied when right, each bad value at its file:line:col.</summary>
public sealed class TenantRateLimitConfigTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"vigil-rate-{Guid.NewGuid():N}.yaml");

    public void Dispose() => File.Delete(_path);

    private VigilOptions Load(string yaml)
    {
        File.WriteAllText(_path, yaml);
        return ConfigLoader.Load(_path, [], _ => null);
    }

    [Fact]
    public void TheSettings_AreApplied_WithPerTenantOverrides()
    {
        var options = Load("ingest:\n  tenant_rate_limit: 1000\n  tenant_rate_burst: 5000\n  tenant_rate_limits: {acme: 50000, free-tier: 10, vip: 0}\n  max_requests_in_flight: 64\n");

        Assert.Equal((1000, 5000, 64), (options.Ingest.TenantRateLimit, options.Ingest.TenantRateBurst, options.Ingest.MaxRequestsInFlight));
        Assert.Equal(new Dictionary<string, int> { ["acme"] = 50000, ["free-tier"] = 10, ["vip"] = 0 }, options.Ingest.TenantRateLimits);
        Assert.True(options.Ingest.TenantRateLimited);
    }

    [Fact]
    public void ByDefault_NoTenantIsRateLimited()
    {
        var options = ConfigLoader.Load(null, [], _ => null);

        Assert.Equal((0, 0, 1024), (options.Ingest.TenantRateLimit, options.Ingest.TenantRateBurst, options.Ingest.MaxRequestsInFlight));
        Assert.Empty(options.Ingest.TenantRateLimits);
        Assert.False(options.Ingest.TenantRateLimited);

        // Overrides that all say "not limited" turn nothing on either.
        Assert.False(Load("ingest:\n  tenant_rate_limits: {vip: 0}\n").Ingest.TenantRateLimited);
    }

    [Fact]
    public void BadValues_AreEachReportedAtTheirPlace()
    {
        var yaml = "ingest:\n  tenant_rate_limit: -5\n  tenant_rate_burst: lots\n  tenant_rate_limits:\n    acme: -1\n    globex: many\n  max_requests_in_flight: -2\n";
        var error = Assert.Throws<ConfigException>(() => Load(yaml));

        Assert.Equal(
            [
                $"{_path}:3:22: ingest.tenant_rate_burst: 'lots' is not a whole number",
                $"{_path}:6:13: ingest.tenant_rate_limits.globex: 'many' is not a whole number",
                $"{_path}:7:27: ingest.max_requests_in_flight: must not be negative (0 = no limit)",
                $"{_path}:2:22: ingest.tenant_rate_limit: data points per second must not be negative (0 = no limit)",
                $"{_path}:5:11: ingest.tenant_rate_limits.acme: data points per second must not be negative (0 = this tenant is not limited)",
            ],
            error.Problems);
    }

    [Fact]
    public void OverridesThatAreNotAMapping_AreRefusedWithAnExample()
    {
        var error = Assert.Throws<ConfigException>(() => Load("ingest:\n  tenant_rate_limits: [acme]\n"));

        Assert.Equal($"{_path}:2:23: ingest.tenant_rate_limits must be a mapping of names to numbers, e.g. {{acme: 50000}}", Assert.Single(error.Problems));
    }
}
