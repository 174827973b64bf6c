using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Vigil.Collector.Tests;

/// <summary>
/// Issue #10 item 8 found idle connections and slowloris handled ("checked and sound, keep it so"):
/// by Kestrel's own timers, which Vigil must not switch off while it lifts the body size cap for OTLP.
/// Kestrel's timers run on the wall clock, so this guards their settings rather than waiting 30 s.
/// </summary>
public sealed class SlowClientLimitsTests
{
    [Fact]
    public async Task TheTimersThatCloseSlowAndIdleClients_StayOn_AtKestrelsDefaultsOrStricter()
    {
        await using var vigil = await VigilServer.StartAsync();
        var limits = vigil.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;

        // Headers dribbled in (slowloris): Kestrel's default is 30 s.
        Assert.InRange(limits.RequestHeadersTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));

        // An idle keep-alive connection: Kestrel's default is 130 s.
        Assert.InRange(limits.KeepAliveTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(130));

        // A body dribbled in: at least 240 bytes/s after a 5 s grace period (Kestrel's default), never off.
        Assert.NotNull(limits.MinRequestBodyDataRate);
        Assert.True(limits.MinRequestBodyDataRate.BytesPerSecond >= 240, $"MinRequestBodyDataRate is {limits.MinRequestBodyDataRate.BytesPerSecond} B/s");
        Assert.True(limits.MinRequestBodyDataRate.GracePeriod <= TimeSpan.FromSeconds(5));
        Assert.NotNull(limits.MinResponseDataRate);
    }
}
