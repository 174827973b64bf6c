using Vigil.Storage.Query;

namespace Vigil.Query;

/// <summary>
/// Prometheus 3's OTLP conventions over Vigil's stored series (decision 028): <c>job</c> is
/// <c>service.namespace/service.name</c> (or <c>service.name</c> alone) and <c>instance</c> is
/// <c>service.instance.id</c>, on every series; <c>target_info</c> is one series per resource, its stored resource
/// attributes as labels, value 1. Nothing of it is stored: both labels are derived from the resource attributes the
/// series already keeps (<c>storage.resource_attributes</c>) when a query reads them, so they cost no series memory.
/// </summary>
public static class OtlpConventions
{
    public const string Job = "job";

    public const string Instance = "instance";

    public const string TargetInfo = "target_info";

    public const string ServiceName = "service.name";

    public const string ServiceNamespace = "service.namespace";

    public const string ServiceInstanceId = "service.instance.id";

    /// <summary>The attributes job and instance come from (Prometheus' "identifying" attributes, left out of target_info).</summary>
    public static readonly IReadOnlyList<string> SourceAttributes = [ServiceNamespace, ServiceName, ServiceInstanceId];

    /// <summary>Whether a Prometheus label is one of the two derived ones.</summary>
    public static bool IsDerived(string label) => label is Job or Instance;

    /// <summary>
    /// Adds <c>job</c> and <c>instance</c> as Prometheus' OTLP receiver sets them: <c>job</c> only when
    /// <c>service.name</c> is there, <c>instance</c> only when <c>service.instance.id</c> is; either replaces a point
    /// attribute of the same name, as there.
    /// </summary>
    public static void AddDerived(List<KeyValuePair<string, string>> pairs, IReadOnlyDictionary<string, string> attributes)
    {
        if (attributes.TryGetValue(ServiceName, out var name) && name.Length > 0)
        {
            var job = attributes.TryGetValue(ServiceNamespace, out var ns) && ns.Length > 0 ? ns + "/" + name : name;
            Replace(pairs, Job, job);
        }

        if (attributes.TryGetValue(ServiceInstanceId, out var instance) && instance.Length > 0)
        {
            Replace(pairs, Instance, instance);
        }
    }

    /// <summary>
    /// The <c>target_info</c> labels of a series' resource, or null when the resource holds nothing beyond the
    /// identifying attributes (Prometheus then writes no target_info either). Only the attributes named in
    /// <paramref name="resourceAttributes"/> are resource attributes: the others a series holds came from its points.
    /// </summary>
    /// <remarks>
    /// The store keeps one merged label set per series, so a resource attribute cannot be told from a point attribute of
    /// the same name. A series without <c>service.name</c> is taken to have no resource (every OTel SDK sets one):
    /// points stored with only a <c>tenant.id</c> attribute do not invent a target.
    /// </remarks>
    public static Labels? TargetInfoOf(IReadOnlyDictionary<string, string> attributes, IReadOnlyCollection<string> resourceAttributes)
    {
        if (!attributes.ContainsKey(ServiceName))
        {
            return null;
        }

        var pairs = new List<KeyValuePair<string, string>>();
        foreach (var attribute in resourceAttributes)
        {
            if (!SourceAttributes.Contains(attribute) && attributes.TryGetValue(attribute, out var value) && value.Length > 0)
            {
                pairs.Add(new(PrometheusNames.LabelName(attribute), value));
            }
        }

        if (pairs.Count == 0)
        {
            return null;
        }

        AddDerived(pairs, attributes);
        pairs.Add(new(Labels.MetricName, TargetInfo));
        return Labels.From(pairs);
    }

    /// <summary>
    /// How one store read answers selectors and groupings that name <c>job</c> or <c>instance</c>, which the store does not
    /// hold: their matchers are applied to the derived labels after the read, and a grouping by them reads by the
    /// attributes they come from and keeps only the asked labels afterwards.
    /// </summary>
    /// <param name="by">The Prometheus labels a pushed-down grouping keeps, or null to keep every series apart.</param>
    public static FetchPlan Plan(SeriesCatalog catalog, string metric, IReadOnlyList<string>? by, IReadOnlyList<LabelMatcher> matchers)
    {
        var store = new List<LabelMatcher>(matchers.Count);
        List<LabelMatcher>? after = null;
        foreach (var m in matchers)
        {
            if (m.Name == Labels.MetricName)
            {
                continue;
            }

            if (IsDerived(m.Name))
            {
                (after ??= []).Add(m);
            }
            else
            {
                store.Add(new LabelMatcher(catalog.AttributeOf(metric, m.Name), m.Op, m.Value));
            }
        }

        if (by is null)
        {
            return new FetchPlan(catalog.AttributesOf(metric), store, after, null);
        }

        var derived = by.Where(IsDerived).Concat(after?.Select(m => m.Name) ?? []).ToHashSet(StringComparer.Ordinal);
        var attributes = new List<string>(by.Count + SourceAttributes.Count);
        foreach (var label in by)
        {
            if (!IsDerived(label))
            {
                attributes.Add(catalog.AttributeOf(metric, label));
            }
        }

        if (derived.Count == 0)
        {
            return new FetchPlan(attributes, store, null, null);
        }

        // Only the sources of the labels asked for: reading job by service.instance.id too would split one job's buckets.
        IEnumerable<string> sources = derived.Contains(Job) ? [ServiceNamespace, ServiceName, Job] : [];
        if (derived.Contains(Instance))
        {
            sources = sources.Append(ServiceInstanceId).Append(Instance);
        }

        foreach (var source in sources)
        {
            var attribute = catalog.AttributeOf(metric, PrometheusNames.LabelName(source));
            if (!attributes.Contains(attribute))
            {
                attributes.Add(attribute);
            }
        }

        return new FetchPlan(attributes, store, after, [.. by]);
    }

    /// <summary>One store read: what to group by and match there, and what to finish on the translated labels.</summary>
    public sealed class FetchPlan(IReadOnlyList<string> by, IReadOnlyList<LabelMatcher> storeMatchers, IReadOnlyList<LabelMatcher>? after, HashSet<string>? keep)
    {
        private HashSet<string>? _seen;

        public IReadOnlyList<string> By { get; } = by;

        public IReadOnlyList<LabelMatcher> StoreMatchers { get; } = storeMatchers;

        /// <summary>
        /// Applies the derived-label matchers and narrows a widened grouping back to the asked labels; false drops the
        /// sample. Two read groups that narrow to one (a regex on job over several services inside a quantile) cannot be
        /// merged after the store computed each: that is refused rather than answered with one of them.
        /// </summary>
        public bool Finish(ref Labels labels)
        {
            if (after is not null)
            {
                foreach (var m in after)
                {
                    if (!m.Matches(labels.Get(m.Name)))
                    {
                        return false;
                    }
                }
            }

            if (keep is null)
            {
                return true;
            }

            var name = labels.Get(Labels.MetricName);
            labels = labels.Keep(name is null ? keep : [.. keep, Labels.MetricName]);
            if (!(_seen ??= new HashSet<string>(StringComparer.Ordinal)).Add(labels.Key))
            {
                throw new PromQLException(
                    $"the series that match {string.Join(", ", after?.Select(m => m.ToString()) ?? [])} group into several {labels} " +
                    "before the store folds them: add job and instance to the by list, e.g. sum by (le, job) (…)");
            }

            return true;
        }
    }

    private static void Replace(List<KeyValuePair<string, string>> pairs, string name, string value)
    {
        pairs.RemoveAll(p => p.Key == name);
        pairs.Add(new(name, value));
    }
}
