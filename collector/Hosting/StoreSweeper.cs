using Vigil.Storage;

namespace Vigil.Collector;

/// <summary>
/// Expires buckets past the retention and evicts series with nothing left, once per resolution; under
/// a memory limit the evictions let the next check collect and memory fall.
/// </summary>
public sealed class StoreSweeper(WindowStore store, TimeProvider time, ILogger<StoreSweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(store.Options.Resolution, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var removed = store.Sweep();
                if (removed > 0 && store.Memory is { Pressure: not MemoryPressure.Normal } memory)
                {
                    // The way out of a memory limit: worth seeing without debug logging.
                    logger.LogInformation("Evicted {Series} idle series under memory pressure ({Pressure})", removed, memory.Pressure);
                }
                else if (removed > 0)
                {
                    logger.LogDebug("Expired {Series} idle series", removed);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
