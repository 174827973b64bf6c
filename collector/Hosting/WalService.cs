using Vigil.Collector.Configuration;
using Vigil.Storage;
using Vigil.Storage.Checkpoint;
using Vigil.Storage.Durability;
using Vigil.Storage.Wal;

namespace Vigil.Collector;

/// <summary>
/// Hosts the durable ingest (<see cref="DurableIngest"/>: WAL, recovery, checkpoints) in the collector:
/// runs the start-up recovery (OTLP requests get a retryable UNAVAILABLE meanwhile and /readyz says
/// "starting"), then the checkpoint policy every <c>wal.checkpoint_interval</c>, and a last checkpoint
/// at graceful shutdown. While the WAL cannot write (a full disk) /readyz is not ready, with the reason,
/// until a probe write succeeds (decision 005).
/// </summary>
public sealed class WalService : BackgroundService
{
    public const string ReadinessPart = "wal";

    private readonly Readiness _readiness;
    private readonly Lock _readinessLock = new();
    private bool _serving;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="files">The WAL's file layer; tests pass one that can fill the disk.</param>
    public WalService(VigilOptions options, OtlpIngest ingest, Readiness readiness, TimeProvider time, ILogger<WalService> logger, IWalFiles? files = null)
    {
        _readiness = readiness;
        Durable = new DurableIngest(ingest, options.DataDir, options.Wal, time, logger, files);
        Durable.AvailabilityChanged += OnAvailabilityChanged;
        readiness.Require(ReadinessPart);
    }

    /// <summary>The sink the OTLP receiver writes through.</summary>
    public DurableIngest Durable { get; }

    public bool Replaying => !Durable.Recovered;

    /// <summary>Why the WAL refuses requests right now (it cannot write), or null.</summary>
    public string? Unavailable => Durable.Unavailable;

    /// <summary>Completes when the store holds everything acknowledged before this start (replay done).</summary>
    public Task Ready => _ready.Task;

    public WriteAheadLog? Log => Durable.Log;

    public CheckpointFiles Checkpoints => Durable.Checkpoints;

    /// <summary>What the start-up recovery did; null until it finished (or with the WAL off).</summary>
    public RecoveryStats? Recovery => Durable.Recovery;

    /// <inheritdoc cref="DurableIngest.CheckpointNowAsync"/>
    public Task<CheckpointInfo?> CheckpointNowAsync(CancellationToken cancellationToken = default) => Durable.CheckpointNowAsync(cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.Run(Durable.Recover, stoppingToken);
        }
        catch (Exception e)
        {
            _ready.TrySetException(e);
            throw;
        }

        lock (_readinessLock)
        {
            _serving = true;
        }

        OnAvailabilityChanged();
        _ready.TrySetResult();
        await Durable.RunCheckpointsAsync(stoppingToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await Durable.ShutdownAsync(cancellationToken);
    }

    /// <summary>
    /// Readiness follows the WAL once replay is done. Each call reads the current state under the lock,
    /// so a change raised by the writer while start-up marks the part can never leave a stale answer.
    /// </summary>
    private void OnAvailabilityChanged()
    {
        lock (_readinessLock)
        {
            if (!_serving)
            {
                return;
            }

            if (Durable.Unavailable is { } reason)
            {
                _readiness.MarkNotReady(ReadinessPart, reason);
            }
            else
            {
                _readiness.MarkReady(ReadinessPart);
            }
        }
    }
}
