using Vigil.Storage;

namespace Vigil.Collector;

/// <summary>Expires buckets past the retention and series with nothing left, once per resolution.</summary>
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
                if (removed > 0)
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
