using System.Diagnostics.Metrics;
using Vigil.Rules.Api;
using Vigil.Storage.Query;

namespace Vigil.Rules;

/// <summary>
/// Owns the running rule set: loads and reloads rule files (a bad file keeps its last good rules running),
/// evaluates each group on its interval from <see cref="TimeProvider"/> timers, keeps alert state per instance
/// (persisted in <c>&lt;dataDir&gt;/alerts.db</c>), and answers the rules, alerts and explain API. With a data
/// directory, every transition is journaled in the same commit as the state it leads to and handed to the sink from
/// that journal, in order, until the sink takes it — across crashes and restarts (decision 007).
/// </summary>
public sealed class RuleManager : IAlertStateReader, IDisposable, IAsyncDisposable
{
    private const int RelayBatch = 256;

    private readonly RuleManagerOptions _options;
    private readonly IWindowReader _reader;
    private readonly TimeProvider _time;
    private readonly IAlertTransitionSink? _sink;
    private readonly RuleEvaluator _evaluator;
    private readonly AlertStateStore? _store;
    private readonly RuleEngineMetrics _metrics;
    private readonly Lock _reloadLock = new();
    private readonly Lock _relayLock = new();
    private readonly List<AlertTransition> _uncommittedOrphans = [];
    private volatile bool _relayDue = true;
    private readonly Dictionary<string, RuleFile> _lastGood = new(StringComparer.Ordinal);
    private volatile IReadOnlyList<RuleGroupRunner> _runners = [];
    private bool _restored;
    private bool _started;
    private bool _disposed;

    /// <param name="meter">Where the engine's self-metrics go (the host's "Vigil" meter); none without it.</param>
    public RuleManager(RuleManagerOptions options, IWindowReader reader, TimeProvider timeProvider, IAlertTransitionSink? sink = null, Meter? meter = null)
    {
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid rule manager options: " + string.Join("; ", problems), nameof(options));
        }

        _options = options;
        _reader = reader;
        _time = timeProvider;
        _sink = sink;
        _evaluator = new RuleEvaluator(reader);
        _store = options.DataDirectory is { } dir ? new AlertStateStore(dir) : null;
        _metrics = new RuleEngineMetrics(meter, () => _runners);
    }

    /// <summary>The last reload's outcome (null before the first); its <see cref="RuleReloadResult.Error"/> is the API's reload error.</summary>
    public RuleReloadResult? LastReload { get; private set; }

    /// <summary>Why the sink last refused a journaled transition (null once it has taken them all); it is offered again on the next evaluation.</summary>
    public string? LastRelayError { get; private set; }

    /// <summary>Evaluations explain retains over every instance: at most instances × <c>rules.explain_history</c>.</summary>
    internal long ExplainHistoryEntries => _runners.Sum(r => r.Published.Rules.Values.Sum(a => a.Instances.Sum(i => (long)i.History.Count)));

    /// <summary>Test seam: the state store, to inject faults around its commits.</summary>
    internal AlertStateStore? Store => _store;

    /// <summary>
    /// Raised after every group evaluation (timer or direct), outside the group's lock, with what it recorded and the
    /// group's active alerts. A handler that throws does not stop the evaluation; keep handlers short.
    /// </summary>
    public event Action<GroupEvaluation>? Evaluated;

    /// <summary>
    /// Raised when grid instants of a group pass without an evaluation (counted in
    /// <c>vigil.rules.group.iterations_missed</c>): a tick found the group still evaluating, or an evaluation outlasted
    /// the next instants. Once per run of misses, with the group and the slot at which the miss was seen.
    /// </summary>
    public event Action<string, DateTimeOffset>? IterationMissed;

    /// <summary>Test seam: raised inside a group's evaluation, holding its lock, before any rule is evaluated.</summary>
    internal event Action<string>? EvaluationStarting;

    /// <summary>The groups running now.</summary>
    public IReadOnlyList<RuleGroup> Groups => _runners.Select(r => r.Group).ToList();

    /// <summary>
    /// Loads every rule file again. Files with problems keep their last good rules; instances of unchanged rules
    /// (same group, alert name and definition) keep their state; instances of removed or changed rules resolve.
    /// The first call also restores alert state persisted by a previous run.
    /// </summary>
    public RuleReloadResult Reload()
    {
        lock (_reloadLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var problems = new List<RuleProblem>();
            var files = LoadFiles(problems);
            var aggregates = files.SelectMany(f => f.Groups).SelectMany(g => g.Aggregates)
                .GroupBy(a => a.Record, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
            var runners = files.SelectMany(f => f.Groups)
                .Select(g => new RuleGroupRunner(g, _evaluator, aggregates, _time, _options.ResolvedRetention, _options.Limits))
                .ToList();

            var transitions = new List<AlertTransition>();
            var now = _time.GetUtcNow();
            if (!_restored)
            {
                Restore(runners, transitions, now);
                _restored = true;
            }
            else
            {
                CarryOver(_runners, runners, transitions, now);
            }

            foreach (var runner in runners)
            {
                lock (runner.Gate)
                {
                    runner.Publish();
                }
            }

            var old = _runners;
            _runners = runners;
            foreach (var runner in old)
            {
                runner.Timer?.Dispose();
            }

            try
            {
                CommitReload(old, runners, transitions);
            }
            finally
            {
                // A failed commit keeps its transitions for the next one; the groups keep being evaluated.
                if (_started)
                {
                    StartTimers();
                }
            }

            LastReload = new RuleReloadResult(now, problems, runners.Count, runners.Sum(r => r.Alerts.Count), runners.Sum(r => r.Aggregates.Count));
            return LastReload;
        }
    }

    /// <summary>Starts one timer per group; each evaluates at once and then every group interval.</summary>
    public void Start()
    {
        lock (_reloadLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (LastReload is null)
            {
                Reload();
            }

            _started = true;
            StartTimers();
        }
    }

    public void Stop()
    {
        lock (_reloadLock)
        {
            _started = false;
            foreach (var runner in _runners)
            {
                runner.Timer?.Dispose();
                runner.Timer = null;
            }
        }
    }

    /// <summary>Evaluates every group at <paramref name="now"/> (what the timers do, callable directly for tests and tools).</summary>
    public Task<IReadOnlyList<AlertTransition>> EvaluateAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var all = new List<AlertTransition>();
        foreach (var runner in _runners)
        {
            cancellationToken.ThrowIfCancellationRequested();
            all.AddRange(EvaluateRunner(runner, now, wait: true)!);
        }

        return Task.FromResult<IReadOnlyList<AlertTransition>>(all);
    }

    /// <summary>Evaluates one group at <paramref name="now"/>.</summary>
    public Task<IReadOnlyList<AlertTransition>> EvaluateGroupAsync(string group, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var runner = _runners.FirstOrDefault(r => r.Group.Name == group) ?? throw new ArgumentException($"no rule group '{group}'", nameof(group));
        return Task.FromResult(EvaluateRunner(runner, now, wait: true)!);
    }

    /// <summary>The state of every instance of an alert rule (inactive ones included), by group-by labels.</summary>
    public IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, AlertInstanceState State)> GetInstances(string group, string alert)
    {
        var (runner, runtime) = Find(group, alert);
        return runner.Published.Rules[runtime.Rule.Name].Instances.Select(i => (i.Labels, i.State)).ToList();
    }

    /// <summary><c>GET /api/v1/rules</c>: <c>ApiResponse.Success(manager.GetRules())</c>, from each group's last published snapshot.</summary>
    public RuleDiscovery GetRules() => new([.. _runners.Select(r => r.Published.Info)]);

    /// <summary><c>GET /api/v1/alerts</c>: every pending and firing instance, from each group's last published snapshot.</summary>
    public AlertDiscovery GetAlerts() => new([.. _runners.SelectMany(r => r.Published.Alerts)]);

    /// <inheritdoc />
    public IReadOnlyList<ActiveAlert> ActiveAlerts() => [.. _runners.SelectMany(r => r.Published.Active)];

    /// <summary>The latest values of every recorded aggregate.</summary>
    public IReadOnlyList<RecordedSample> GetRecorded() => [.. _runners.SelectMany(r => r.Published.Recorded)];

    /// <summary>
    /// Why each instance of <paramref name="alert"/> is or is not firing: reads the window now (without changing
    /// any state) and shows value, samples, guard, effective threshold after overrides, state and reason.
    /// </summary>
    public AlertExplanation Explain(string group, string alert)
    {
        var (runner, runtime) = Find(group, alert);
        var now = _time.GetUtcNow();
        var rule = runtime.Rule;
        var aggregates = _runners.SelectMany(r => r.Group.Aggregates).GroupBy(a => a.Record, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        IReadOnlyList<InstanceObservation> observations;
        try
        {
            observations = _evaluator.Observe(rule, now, aggregates);
        }
        catch (QueryException ex)
        {
            return new AlertExplanation(group, alert, rule.Query, now, "err", ex.Message, []);
        }

        // Read from the last published snapshot: explain never waits for the group's evaluation (decision 020).
        var published = runner.Published.Rules[rule.Name];
        var known = published.Instances.ToDictionary(i => i.Key, StringComparer.Ordinal);
        var seen = observations.GroupBy(o => o.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var limit = runner.MaxInstances(rule);
        var instances = new List<InstanceExplanation>();
        foreach (var key in seen.Keys.Concat(known.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var observed = seen.GetValueOrDefault(key);
            var instance = known.GetValueOrDefault(key);
            var labels = instance?.Labels ?? LabelSet.Sorted(observed!.Labels);
            var state = instance?.State ?? AlertInstanceState.Initial;
            var observation = observed?.Observation ?? Observation.Gone;
            var effective = RuleEvaluator.Resolve(rule, labels);
            var step = AlertStateMachine.Next(state, observation, now, effective);
            instances.Add(new InstanceExplanation(labels, observation.Value, observation.Samples, effective.MinSamples, Guard(observation, effective),
                effective.Threshold.ToString(), effective.Recover?.ToString(), PromDuration.Format(effective.For), effective.Severity.ToString(),
                effective.Override is { } o ? LabelSet.Sorted(o.Match) : null, AlertStateMachine.Name(state.State), state.ActiveAt, state.FiredAt,
                instance is null && known.Count >= limit ? $"refused: the rule holds its limit of {limit} instances (max_instances)" : step.Reason,
                instance is null ? [] : [.. instance.History.ToArray().Select(HistoryEntry)]));
        }

        return new AlertExplanation(group, alert, rule.Query, now, published.Health, published.LastError, instances);
    }

    private static EvaluationInfo HistoryEntry(EvaluationRecord e) =>
        new(e.At, e.Value, e.Samples, Guard(new Observation(e.Value, e.Samples, e.Absent), e.Effective), e.Effective.Threshold.ToString(),
            AlertStateMachine.Name(e.State), e.Reason);

    /// <summary>The min_samples guard in words, as explain shows it.</summary>
    internal static string Guard(Observation observation, EffectiveRule effective) =>
        observation.Value is null
            ? "no data"
            : observation.Samples < effective.MinSamples
                ? $"blocked: {AlertTemplate.FormatNumber(observation.Samples)} < min_samples {AlertTemplate.FormatNumber(effective.MinSamples)}"
                : $"passed: {AlertTemplate.FormatNumber(observation.Samples)} >= min_samples {AlertTemplate.FormatNumber(effective.MinSamples)}";

    public void Dispose()
    {
        lock (_reloadLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            Stop();
            _store?.Dispose();
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private List<RuleFile> LoadFiles(List<RuleProblem> problems)
    {
        var paths = new List<string>(_options.RuleFiles);
        if (_options.RulesDirectory is { } dir)
        {
            if (Directory.Exists(dir))
            {
                paths.AddRange(Directory.EnumerateFiles(dir, "*", SearchOption.TopDirectoryOnly)
                    .Where(IsRuleFile).Order(StringComparer.Ordinal));
            }
            else
            {
                problems.Add(new RuleProblem(dir, 1, 1, "rules directory does not exist", "create it or point rules.directory at the rule files"));
            }
        }

        var candidates = new Dictionary<string, RuleFile>(StringComparer.Ordinal);
        var loadedOk = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in paths.Distinct(StringComparer.Ordinal))
        {
            var result = _options.Loader(path, _options.Limits);
            if (result.Ok)
            {
                candidates[path] = result.File;
                loadedOk.Add(path);
            }
            else
            {
                problems.AddRange(result.Problems);
                if (_lastGood.TryGetValue(path, out var good))
                {
                    candidates[path] = good;
                }
            }
        }

        LimitTotal(paths, candidates, loadedOk, problems);
        var cross = RuleSetValidator.Validate(candidates.Values.ToList(), _reader);
        if (cross.Count > 0)
        {
            problems.AddRange(cross);
            foreach (var bad in cross.Select(p => p.File).Distinct(StringComparer.Ordinal))
            {
                loadedOk.Remove(bad);
                if (_lastGood.TryGetValue(bad, out var good) && !ReferenceEquals(good, candidates.GetValueOrDefault(bad)))
                {
                    candidates[bad] = good;
                }
                else
                {
                    candidates.Remove(bad);
                }
            }

            foreach (var still in RuleSetValidator.Validate(candidates.Values.ToList(), _reader).Select(p => p.File).Distinct(StringComparer.Ordinal))
            {
                candidates.Remove(still);
            }
        }

        foreach (var gone in _lastGood.Keys.Where(p => !paths.Contains(p, StringComparer.Ordinal)).ToList())
        {
            _lastGood.Remove(gone);
        }

        foreach (var path in loadedOk)
        {
            _lastGood[path] = candidates[path];
        }

        return paths.Distinct(StringComparer.Ordinal).Where(candidates.ContainsKey).Select(p => candidates[p]).ToList();
    }

    /// <summary>
    /// Keeps the rules under <see cref="RuleLimits.MaxRules"/>. Files count with their last good rules; a file that
    /// loaded with more rules than those joins, in path order, only while the total fits, and otherwise keeps its
    /// last good rules. So a file that grew is refused, never an unchanged file read after it.
    /// </summary>
    private void LimitTotal(List<string> paths, Dictionary<string, RuleFile> candidates, HashSet<string> loadedOk, List<RuleProblem> problems)
    {
        var max = _options.Limits.MaxRules;
        var total = paths.Distinct(StringComparer.Ordinal).Sum(p => _lastGood.TryGetValue(p, out var good) ? RuleCount(good) : 0L);
        foreach (var path in paths.Distinct(StringComparer.Ordinal).Where(loadedOk.Contains))
        {
            var before = _lastGood.TryGetValue(path, out var good) ? RuleCount(good) : 0;
            var loaded = candidates[path];
            var after = total - before + RuleCount(loaded);
            if (after <= max || RuleCount(loaded) <= before)
            {
                total = after;
                continue;
            }

            var firstOver = loaded.Groups.SelectMany(g => g.Alerts.Select(a => a.Position).Concat(g.Aggregates.Select(a => a.Position)))
                .OrderBy(p => p.Line).ThenBy(p => p.Column).ElementAt((int)Math.Max(0, max - (total - before)));
            problems.Add(new RuleProblem(path, firstOver, $"this file would bring the rules to {RuleLimits.Count(after)}, over the limit of {RuleLimits.Count(max)} in total (rules.max_rules)",
                "remove rules or raise rules.max_rules"));
            loadedOk.Remove(path);
            if (good is not null)
            {
                candidates[path] = good;
            }
            else
            {
                candidates.Remove(path);
            }
        }
    }

    private static int RuleCount(RuleFile file) => file.Groups.Sum(g => g.Alerts.Count + g.Aggregates.Count);

    internal static bool IsRuleFile(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);

    private static void CarryOver(IReadOnlyList<RuleGroupRunner> oldRunners, List<RuleGroupRunner> newRunners, List<AlertTransition> transitions, DateTimeOffset now)
    {
        // Looked up by name: at the rule limits a reload meets tens of thousands of groups and rules, and a scan per
        // rule made it quadratic (minutes).
        var carried = new HashSet<AlertRuleRuntime>();
        var previousGroups = FirstBy(oldRunners, r => r.Group.Name);
        foreach (var runner in newRunners)
        {
            var previous = previousGroups.GetValueOrDefault(runner.Group.Name);
            if (previous is null)
            {
                continue;
            }

            lock (previous.Gate)
            {
                var previousAlerts = FirstBy(previous.Alerts, a => a.Rule.Name);
                var previousAggregates = FirstBy(previous.Aggregates, a => a.Rule.DefinitionKey);
                foreach (var runtime in runner.Alerts)
                {
                    if (previousAlerts.GetValueOrDefault(runtime.Rule.Name) is { } same && same.Rule.DefinitionKey == runtime.Rule.DefinitionKey)
                    {
                        runtime.Instances = same.Instances;
                        (runtime.Health, runtime.LastError, runtime.LastEvaluation, runtime.EvaluationTime) = (same.Health, same.LastError, same.LastEvaluation, same.EvaluationTime);
                        carried.Add(same);
                    }
                }

                foreach (var aggregate in runner.Aggregates)
                {
                    if (previousAggregates.GetValueOrDefault(aggregate.Rule.DefinitionKey) is { } same)
                    {
                        aggregate.Last = same.Last;
                        (aggregate.Health, aggregate.LastError, aggregate.LastEvaluation) = (same.Health, same.LastError, same.LastEvaluation);
                    }
                }
            }
        }

        var stillThere = newRunners.SelectMany(r => r.Alerts.Select(a => (r.Group.Name, a.Rule.Name))).ToHashSet();
        foreach (var runner in oldRunners)
        {
            lock (runner.Gate)
            {
                foreach (var runtime in runner.Alerts.Where(a => !carried.Contains(a)))
                {
                    var reason = stillThere.Contains((runner.Group.Name, runtime.Rule.Name)) ? "the rule changed; its instances start again" : "the rule was removed";
                    foreach (var instance in runtime.Instances.Values.Where(i => i.State.IsActive))
                    {
                        var to = instance.State.State == AlertState.Firing ? AlertState.Resolved : AlertState.Inactive;
                        var from = instance.State.State;
                        instance.State = instance.State with { State = to, ResolvedAt = to == AlertState.Resolved ? now : null };
                        transitions.Add(runner.BuildTransition(runtime.Rule, instance, instance.Effective ?? EffectiveRule.FromRule(runtime.Rule), from, to, now, reason));
                    }
                }
            }
        }
    }

    private static Dictionary<string, T> FirstBy<T>(IEnumerable<T> items, Func<T, string> key)
    {
        var index = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            index.TryAdd(key(item), item);
        }

        return index;
    }

    private void Restore(List<RuleGroupRunner> runners, List<AlertTransition> transitions, DateTimeOffset now)
    {
        if (_store is null)
        {
            return;
        }

        foreach (var stored in _store.LoadAll())
        {
            var runner = runners.FirstOrDefault(r => r.Group.Name == stored.Group);
            var runtime = runner?.Alerts.FirstOrDefault(a => a.Rule.Name == stored.Alert);
            var labels = LabelSet.Sorted(stored.Labels);
            if (runner is not null && runtime is not null)
            {
                // Restored by group and alert name: a rule edited while Vigil was down re-evaluates its instances
                // under the new definition instead of forgetting a firing alert.
                var instance = new AlertInstance(labels, LabelSet.Key(labels), _options.Limits.ExplainHistory)
                {
                    State = stored.State,
                    Effective = RuleEvaluator.Resolve(runtime.Rule, labels),
                    Reason = "restored from the data directory",
                    Annotations = stored.Annotations,
                };
                runtime.Instances[instance.Key] = instance;
            }
            else if (stored.State.State == AlertState.Firing)
            {
                var alertLabels = LabelSet.Sorted(labels);
                alertLabels["alertname"] = stored.Alert;
                alertLabels["severity"] = stored.Severity.ToString();
                transitions.Add(new AlertTransition(stored.Group, stored.Alert, alertLabels, labels, AlertState.Firing, AlertState.Resolved, now,
                    stored.State.LastValue, stored.State.LastSamples, string.Empty, stored.Severity, stored.RunbookUrl, stored.Annotations,
                    TimeSpan.Zero, stored.State.ActiveAt, stored.State.FiredAt, now, "the rule was removed while Vigil was stopped")
                {
                    Id = AlertTransition.NewId(now),
                });
            }
        }
    }

    /// <returns>The transitions, or null when <paramref name="wait"/> is false and the group is still evaluating.</returns>
    private IReadOnlyList<AlertTransition>? EvaluateRunner(RuleGroupRunner runner, DateTimeOffset now, bool wait)
    {
        if (wait)
        {
            runner.Gate.Enter();
        }
        else if (!runner.Gate.TryEnter())
        {
            return null;
        }

        List<AlertTransition> transitions;
        var journaled = false;
        GroupSnapshot published;
        try
        {
            EvaluationStarting?.Invoke(runner.Group.Name);
            transitions = runner.Evaluate(now);
            published = runner.Publish();
            foreach (var refused in runner.Alerts.Where(a => a.LastRefused > 0))
            {
                _metrics.Refuse(runner.Group.Name, refused.Rule.Name, refused.LastRefused);
            }

            _metrics.Evaluated(runner.Group.Name, runner.EvaluationTime,
                runner.Alerts.Count(a => a.Health == "err") + runner.Aggregates.Count(a => a.Health == "err"));
            if (_store is not null)
            {
                List<AlertTransition> journal = _sink is null ? [] : [.. runner.Uncommitted, .. transitions];

                try
                {
                    _store.SaveGroup(runner.Group.Name, runner.Snapshot(), journal);
                }
                catch
                {
                    // The state in memory has moved on; its transitions must reach the disk with the next save.
                    runner.Uncommitted.Clear();
                    runner.Uncommitted.AddRange(journal);
                    throw;
                }

                runner.Uncommitted.Clear();
                journaled = journal.Count > 0;
            }
        }
        finally
        {
            runner.Gate.Exit();
        }

        if (Evaluated is { } evaluated)
        {
            try
            {
                // Recorded values are stamped with the instant their windows end (query_offset before the evaluation).
                var recorded = runner.QueryOffset == TimeSpan.Zero
                    ? published.Recorded
                    : [.. published.Recorded.Select(r => r with { At = now - runner.QueryOffset })];
                evaluated(new GroupEvaluation(runner.Group.Name, now, recorded, published.Alerts) { Active = published.Active });
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // An observer's failure is its own (remote write counts it); evaluation and delivery go on.
            }
        }

        if (_store is null)
        {
            Publish(transitions);
        }
        else if (journaled || _relayDue)
        {
            Relay();
        }

        return transitions;
    }

    /// <summary>
    /// Commits a reload: every group's state, with the transitions the reload made (and any an earlier failed commit
    /// left), in one transaction; then hands them on. Without a data directory they go straight to the sink.
    /// </summary>
    private void CommitReload(IReadOnlyList<RuleGroupRunner> old, List<RuleGroupRunner> runners, List<AlertTransition> transitions)
    {
        if (_store is null)
        {
            Publish(transitions);
            return;
        }

        var journal = new List<AlertTransition>();
        if (_sink is not null)
        {
            journal.AddRange(_uncommittedOrphans);
            foreach (var runner in old)
            {
                lock (runner.Gate)
                {
                    journal.AddRange(runner.Uncommitted);
                    runner.Uncommitted.Clear();
                }
            }

            journal.AddRange(transitions);
        }

        try
        {
            _store.SaveAll(runners.Select(r => (r.Group.Name, r.Snapshot())), journal);
        }
        catch
        {
            _uncommittedOrphans.Clear();
            foreach (var t in journal)
            {
                var owner = runners.FirstOrDefault(r => r.Group.Name == t.Group);
                (owner?.Uncommitted ?? _uncommittedOrphans).Add(t);
            }

            throw;
        }

        _uncommittedOrphans.Clear();
        Relay();
    }

    /// <summary>
    /// Hands journaled transitions to the sink, oldest first, deleting each batch the sink has taken. The first
    /// refusal stops the pass (a later transition must not overtake it); the next evaluation tries again.
    /// </summary>
    private void Relay()
    {
        if (_store is null || _sink is null)
        {
            return;
        }

        lock (_relayLock)
        {
            _relayDue = false;
            try
            {
                while (true)
                {
                    var batch = _store.ReadJournal(RelayBatch);
                    if (batch.Count == 0)
                    {
                        LastRelayError = null;
                        return;
                    }

                    long? taken = null;
                    try
                    {
                        foreach (var entry in batch)
                        {
                            if (entry.Transition is { } transition)
                            {
                                _sink.OnTransition(transition);
                            }

                            taken = entry.Seq;
                        }
                    }
                    finally
                    {
                        if (taken is { } seq)
                        {
                            _store.Acknowledge(seq);
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Still journaled: offered again, in the same order, on the next evaluation or after a restart.
                _relayDue = true;
                LastRelayError = ex.Message;
            }
        }
    }

    private void Publish(List<AlertTransition> transitions)
    {
        if (_sink is null)
        {
            return;
        }

        foreach (var t in transitions)
        {
            _sink.OnTransition(t);
        }
    }

    private void StartTimers()
    {
        foreach (var runner in _runners)
        {
            runner.Timer?.Dispose();
            // Armed only once assigned: the first tick (at once) re-arms it for the next grid instant.
            runner.Timer = _time.CreateTimer(OnTimer, runner, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            runner.Timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// The evaluation time for a tick at <paramref name="now"/>: the latest instant of the group's grid, offset + k ×
    /// interval, where the offset is a hash of the group name modulo the interval (Prometheus' rule). Two Vigils with
    /// the same rules evaluate each group at the same instants whenever they started, so over the same data they agree
    /// on activeAt and startsAt (an HA pair's twin events match); the offsets spread groups over the interval.
    /// </summary>
    public static DateTimeOffset EvaluationSlot(string group, TimeSpan interval, DateTimeOffset now)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(group))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        var ticks = (ulong)interval.Ticks;
        var offset = (long)(hash % ticks);
        var since = now.UtcTicks - offset;
        var into = ((since % interval.Ticks) + interval.Ticks) % interval.Ticks;
        return new DateTimeOffset(now.UtcTicks - into, TimeSpan.Zero);
    }

    private void OnTimer(object? state)
    {
        var runner = (RuleGroupRunner)state!;
        if (!ReferenceEquals(_runners.FirstOrDefault(r => r.Group.Name == runner.Group.Name), runner))
        {
            return;
        }

        var interval = runner.Group.Interval;
        try
        {
            // A timer may fire a hair before its instant; that grid instant is done, so it waits for the next.
            var slot = EvaluationSlot(runner.Group.Name, interval, _time.GetUtcNow());
            var last = runner.Published.Info.LastEvaluation;
            if (slot > last)
            {
                var counters = _metrics.For(runner.Group.Name);
                if (EvaluateRunner(runner, slot, wait: false) is null)
                {
                    Missed(runner.Group.Name, counters, slot, 1);
                }
                else
                {
                    // Grid instants between the last one accounted for and this one passed while the group was still
                    // evaluating (the timer is re-armed only after an evaluation) or while the tick was late.
                    var since = Math.Max(last.UtcTicks, Volatile.Read(ref counters.AccountedTicks));
                    var skipped = since == 0 ? 0 : ((slot.UtcTicks - since) / interval.Ticks) - 1;
                    if (skipped > 0)
                    {
                        Missed(runner.Group.Name, counters, slot, skipped);
                    }
                    else
                    {
                        Volatile.Write(ref counters.Missing, 0);
                    }
                }

                Volatile.Write(ref counters.AccountedTicks, slot.UtcTicks);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A timer callback has no caller to throw to; the failure is visible on every rule of the group.
            lock (runner.Gate)
            {
                foreach (var runtime in runner.Alerts)
                {
                    (runtime.Health, runtime.LastError) = ("err", ex.Message);
                }

                runner.Publish();
                _metrics.Failed(runner.Group.Name, runner.Alerts.Count);
            }
        }
        finally
        {
            // Re-armed from the clock for the next grid instant, so a slow evaluation never shifts the grid.
            var now = _time.GetUtcNow();
            var due = EvaluationSlot(runner.Group.Name, interval, now) + interval - now;
            try
            {
                runner.Timer?.Change(due, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // Stopped or reloaded meanwhile: the new timers carry on.
            }
        }
    }

    /// <summary>Counts <paramref name="count"/> skipped grid instants; the first of a run of misses is reported.</summary>
    private void Missed(string group, GroupCounters counters, DateTimeOffset slot, long count)
    {
        Interlocked.Add(ref counters.Missed, count);
        if (Interlocked.Exchange(ref counters.Missing, 1) == 0)
        {
            IterationMissed?.Invoke(group, slot);
        }
    }

    private (RuleGroupRunner Runner, AlertRuleRuntime Runtime) Find(string group, string alert)
    {
        var runner = _runners.FirstOrDefault(r => r.Group.Name == group) ?? throw new KeyNotFoundException($"no rule group '{group}'");
        var runtime = runner.Alerts.FirstOrDefault(a => a.Rule.Name == alert) ?? throw new KeyNotFoundException($"no alert '{alert}' in group '{group}'");
        return (runner, runtime);
    }
}
