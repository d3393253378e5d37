-- Identifier pairs that deterministic rules link: a store customer to its canonical
-- email and E.164 phone; a non-test order's email and phone to its store customer,
-- or, for a guest checkout, to the order itself; CRM contacts/profiles to their
-- email and phone. Node prefixes choose which identifier names a component
-- (smallest wins): c: store customer < e: email < h: HubSpot < k: Klaviyo <
-- o: guest order < p: phone.
-- An order of a store customer is no node of its own: linked to its customer, it
-- could never name a component (c: sorts first) and its golden id is its
-- customer's (order_golden_ids), so its email and phone link to the customer
-- directly. The components are the same as with a node per order; at 10M orders
-- the graph has 4.9M nodes instead of 14.1M.
-- Each source is read once: a record gives one pair per identifier it links to
-- (unnest of the list of them); a NULL identifier gives a pair with a NULL side.
-- A store customer's orders mostly repeat its email and phone: the orders are
-- reduced to their distinct (customer or guest order, email, phone) first: a few
-- rows per customer instead of one per order, the same components, and at 10M
-- orders identity_graph took 7 s instead of 14 s.
SELECT 'c:shop:' || CAST(customer_id AS VARCHAR) AS node_a,
       unnest(make_array('e:' || email_canonical, 'p:' || phone_e164)) AS node_b
FROM models.stg_shop_customers
UNION ALL
SELECT COALESCE('c:shop:' || CAST(customer_id AS VARCHAR), 'o:shop:' || CAST(guest_order_id AS VARCHAR)),
       unnest(make_array('e:' || email_canonical, 'p:' || phone_e164))
FROM (SELECT DISTINCT customer_id,
             CASE WHEN customer_id IS NULL THEN order_id END AS guest_order_id,
             email_canonical, phone_e164
      FROM models.stg_shop_orders WHERE NOT is_test) orders
UNION ALL
SELECT 'h:hubspot:' || CAST(contact_id AS VARCHAR),
       unnest(make_array('e:' || email_canonical, 'p:' || phone_e164))
FROM models.stg_hubspot_contacts WHERE NOT is_archived
UNION ALL
SELECT 'k:klaviyo:' || profile_id,
       unnest(make_array('e:' || email_canonical, 'p:' || phone_e164))
FROM models.stg_klaviyo_profiles
